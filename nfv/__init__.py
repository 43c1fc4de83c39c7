"""ETSI NFV: CSAR + SOL001 VNFD parsing into a typed deployment model, LCM, placement."""
