"""The payments domain: authorisations, captures and refunds."""
