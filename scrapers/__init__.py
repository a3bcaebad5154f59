"""Scrapers and marketplace API pollers that publish raw records to the source topics."""
