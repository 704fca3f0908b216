"""The transparency log (DESIGN §7.1, §7.2): the Merkle tree, checkpoints, proofs, evidence."""
