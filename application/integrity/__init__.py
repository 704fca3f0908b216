"""Tamper evidence: the hash chain over every entry, and its verification."""
