"""The shipping domain: parcels dispatched, delivered or not, and how long fulfilment takes."""
