"""Images: content-addressed chunk store, transfer, validation, reference VNF image builder."""
