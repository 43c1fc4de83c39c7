"""The catalog: flavors now; image records arrive with the images issue (kind ``image``)."""
