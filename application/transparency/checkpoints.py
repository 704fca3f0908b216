"""Signed checkpoints (DESIGN §7.1): C2SP tlog-checkpoint bodies in C2SP signed notes, Ed25519.

A checkpoint says "the log named <origin> had <size> leaves with <root>":

    <origin>
    <size>
    <base64 root>

and a signed note appends a blank line and one line per signature,
`— <key name> <base64(key id || signature)>`, the key id being the first four
bytes of SHA-256(<key name> || "\\n" || 0x01 || public key). The verifier key is
`<key name>+<hex key id>+<base64(0x01 || public key)>`, as Go's `sumdb/note` and
every C2SP verifier read it. A verifier needs nothing but this module.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ED25519 = b"\x01"  # the signed-note signature type of Ed25519
SIGNATURE_PREFIX = "\u2014 "  # an em dash and a space begin each signature line
# A key name (the log's origin): printable, no spaces and no '+' (C2SP signed-note).
_NAME = re.compile(r"^[\x21-\x2a\x2c-\x7e]{1,256}$")
MAX_NOTE_BYTES = 64 * 1024


class CheckpointError(ValueError):
    """A note or key that is not what it claims, with why."""


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise CheckpointError("a log origin is 1 to 256 printable ASCII characters,"
                              " without spaces or '+'")  # fmt: skip
    return name


def _hash(encoded: str, what: str) -> bytes:
    """A SHA-256 hash from its base64, or `CheckpointError` naming `what` it was to be."""
    try:
        hashed = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise CheckpointError(f"{what} is not base64") from None
    if len(hashed) != 32:
        raise CheckpointError(f"{what} is not a SHA-256 hash")
    return hashed


def _key_id(name: str, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + ED25519 + public).digest()[:4]


ACCESS_LOG = "access-log"  # the extension line naming the access log's tree: size and root


@dataclass(frozen=True)
class Checkpoint:
    """A tree size and root, for the log of `origin`; extension lines after them (C2SP: a
    verifier that does not know one ignores it), here the access log's tree."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def body(self) -> str:
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode(),
                 *self.extensions]  # fmt: skip
        return "\n".join(lines) + "\n"

    @classmethod
    def with_access_log(cls, origin: str, size: int, root: bytes, access: tuple[int, bytes]
                        ) -> Checkpoint:  # fmt: skip
        line = f"{ACCESS_LOG} {access[0]} {base64.b64encode(access[1]).decode()}"
        return cls(origin, size, root, (line,))

    @property
    def access_log(self) -> tuple[int, bytes] | None:
        """The access log's tree (size, root) this checkpoint names, if it names one."""
        for line in self.extensions:
            name, _, rest = line.partition(" ")
            size, _, root = rest.partition(" ")
            if name == ACCESS_LOG and size.isascii() and size.isdigit() and len(size) <= 19:
                return int(size), _hash(root, "the access log's root")
        return None

    @classmethod
    def parse(cls, body: str) -> Checkpoint:
        lines = body.split("\n")
        if len(lines) < 4 or lines[-1] != "":
            raise CheckpointError("a checkpoint is an origin, a size and a root, one a line")
        origin, size, root, extensions = lines[0], lines[1], lines[2], tuple(lines[3:-1])
        if (not size.isascii() or not size.isdigit() or len(size) > 19
                or (size != "0" and size.startswith("0"))):  # fmt: skip
            raise CheckpointError("the tree size is not a decimal number of at most 19 digits")
        hashed = _hash(root, "the root")
        if any(not line for line in extensions):
            raise CheckpointError("a checkpoint has no blank line")
        return cls(check_name(origin), int(size), hashed, extensions)


@dataclass(frozen=True)
class VerifierKey:
    """The public half: checks notes signed by the log's key."""

    name: str
    key_id: bytes
    public: bytes

    def __str__(self) -> str:
        encoded = base64.b64encode(ED25519 + self.public).decode()
        return f"{self.name}+{self.key_id.hex()}+{encoded}"

    @classmethod
    def parse(cls, text: str) -> VerifierKey:
        parts = text.strip().split("+", 2)  # the base64 key may hold '+' itself
        if len(parts) != 3:
            raise CheckpointError("a verifier key is <name>+<hex key id>+<base64 key>")
        name, key_id, encoded = parts
        try:
            key = base64.b64decode(encoded, validate=True)
            hashed = bytes.fromhex(key_id)
        except (binascii.Error, ValueError):
            raise CheckpointError("the verifier key's id or key is not hex and base64") from None
        if len(key) != 33 or key[:1] != ED25519 or len(hashed) != 4:
            raise CheckpointError("the verifier key is not an Ed25519 key")
        if _key_id(check_name(name), key[1:]) != hashed:
            raise CheckpointError("the verifier key's id does not match its name and key")
        return cls(name, hashed, key[1:])

    def open(self, note: str) -> Checkpoint:
        """The checkpoint a signed note holds, once this key's signature on it checks out."""
        if len(note.encode()) > MAX_NOTE_BYTES:
            raise CheckpointError("the note is too large")
        body, separator, signatures = note.rpartition("\n\n")
        if not separator or not signatures.endswith("\n"):
            raise CheckpointError("not a signed note: no blank line before its signatures")
        body += "\n"
        key = Ed25519PublicKey.from_public_bytes(self.public)
        for line in signatures[:-1].split("\n"):
            if not line.startswith(SIGNATURE_PREFIX):
                raise CheckpointError("a signature line does not begin with an em dash")
            name, _, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
            try:
                signed = base64.b64decode(encoded, validate=True)
            except binascii.Error:
                raise CheckpointError("a signature is not base64") from None
            if name != self.name or signed[:4] != self.key_id:
                continue  # another key's signature: not ours to judge
            try:
                key.verify(signed[4:], body.encode())
            except InvalidSignature:
                raise CheckpointError("the signature does not match the note") from None
            checkpoint = Checkpoint.parse(body)
            if checkpoint.origin != self.name:
                raise CheckpointError("the checkpoint names another log than its key")
            return checkpoint
        raise CheckpointError(f"the note bears no signature of {self.name}")


@dataclass(frozen=True)
class SigningKey:
    """The log's private key: signs checkpoints. Its repr never shows the key."""

    name: str
    private: Ed25519PrivateKey

    def __repr__(self) -> str:
        return f"SigningKey({self.name!r}, '**********')"

    @classmethod
    def generate(cls, name: str) -> SigningKey:
        return cls(check_name(name), Ed25519PrivateKey.generate())

    @property
    def verifier(self) -> VerifierKey:
        public = self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return VerifierKey(self.name, _key_id(self.name, public), public)

    def sign(self, checkpoint: Checkpoint) -> str:
        if checkpoint.origin != self.name:
            raise CheckpointError("a checkpoint is signed by its own log's key")
        body = checkpoint.body()
        signature = self.private.sign(body.encode())
        encoded = base64.b64encode(self.verifier.key_id + signature).decode()
        return f"{body}\n{SIGNATURE_PREFIX}{self.name} {encoded}\n"

    def __str__(self) -> str:
        """`PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 || seed)>`, as Go's `sumdb/note`
        writes a signer key: what `LEDGER_SIGNING_KEY` holds."""
        seed = self.private.private_bytes_raw()
        encoded = base64.b64encode(ED25519 + seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.verifier.key_id.hex()}+{encoded}"

    @classmethod
    def parse(cls, text: str) -> SigningKey:
        parts = text.strip().split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise CheckpointError("a signing key is PRIVATE+KEY+<name>+<hex key id>+<base64 key>")
        try:
            seed = base64.b64decode(parts[4], validate=True)
        except binascii.Error:
            raise CheckpointError("the signing key is not base64") from None
        if len(seed) != 33 or seed[:1] != ED25519:
            raise CheckpointError("the signing key is not an Ed25519 key")
        key = cls(check_name(parts[2]), Ed25519PrivateKey.from_private_bytes(seed[1:]))
        if key.verifier.key_id.hex() != parts[3].lower():
            raise CheckpointError("the signing key's id does not match its name and key")
        return key
