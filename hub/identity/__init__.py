"""Identity (Keystone's job): passwords, token issuing, revocation, roles, the policy table."""
