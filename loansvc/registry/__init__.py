"""The registry: lenders, products, sites and households."""
