"""The reference VNF image: a Debian cloud kernel and a busybox initramfs (see builder)."""
