"""The pure model of meshlake: names, layers, positions, schemas and transforms. No IO, no adapters."""
