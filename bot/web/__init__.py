"""The public web gateway (aiohttp): staff console, widget assets, channel proxy."""
