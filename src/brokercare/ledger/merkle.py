"""RFC 6962 Merkle tree hashing, inclusion and consistency proofs, and their verification.

Hashes (RFC 6962 section 2.1): the empty tree is ``SHA-256()``, a leaf is ``SHA-256(0x00 || d)``,
an interior node is ``SHA-256(0x01 || left || right)``, and a tree of ``n > 1`` leaves splits at
``k``, the largest power of two smaller than ``n``. Proof generation follows the RFC's recursive
definitions (``PATH`` in 2.1.1, ``PROOF``/``SUBPROOF`` in 2.1.2); verification follows the
iterative algorithms of RFC 9162 sections 2.1.3.2 and 2.1.4.2, which check a proof without the tree.

Functions take *leaf hashes* (32-byte digests), so the ledger never needs to re-read entry bodies
to build a proof. :class:`CompactRange` keeps the O(log n) "frontier" (roots of the perfect subtrees
covering the leaves so far) so appends and verification compute each tree head incrementally.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (``n >= 2``)."""
    if n < 2:
        raise ValueError("split_point needs n >= 2")
    return 1 << ((n - 1).bit_length() - 1)


SubtreeFn = Callable[[int, int], bytes]


def _subtree_fn(leaves: Sequence[bytes]) -> SubtreeFn:
    """MTH over ``leaves[lo:hi]`` with memoised perfect subtrees (they never change)."""
    memo: dict[tuple[int, int], bytes] = {}

    def mth(lo: int, hi: int) -> bytes:
        n = hi - lo
        if n == 0:
            return EMPTY_ROOT
        if n == 1:
            return leaves[lo]
        perfect = n & (n - 1) == 0
        if perfect and (lo, hi) in memo:
            return memo[(lo, hi)]
        k = split_point(n)
        h = node_hash(mth(lo, lo + k), mth(lo + k, hi))
        if perfect:
            memo[(lo, hi)] = h
        return h

    return mth


def root(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of a list of leaf hashes."""
    return _subtree_fn(leaves)(0, len(leaves))


def inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]): the audit path proving leaf ``index`` is in the tree of ``leaves``."""
    return inclusion_proof_from(index, len(leaves), _subtree_fn(leaves))


def inclusion_proof_from(index: int, n: int, mth: SubtreeFn) -> list[bytes]:
    """PATH(m, D[n]) given any function computing MTH over a leaf range (e.g. backed by a cache)."""
    if not 0 <= index < n:
        raise ValueError(f"leaf index {index} outside a tree of size {n}")

    def path(m: int, lo: int, hi: int) -> list[bytes]:
        size = hi - lo
        if size == 1:
            return []
        k = split_point(size)
        if m < k:
            return [*path(m, lo, lo + k), mth(lo + k, hi)]
        return [*path(m - k, lo + k, hi), mth(lo, lo + k)]

    return path(index, 0, n)


def consistency_proof(first: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]): proves the tree of the first ``first`` leaves is a prefix of ``leaves``."""
    return consistency_proof_from(first, len(leaves), _subtree_fn(leaves))


def consistency_proof_from(first: int, n: int, mth: SubtreeFn) -> list[bytes]:
    """PROOF(m, D[n]) given any function computing MTH over a leaf range."""
    if not 0 <= first <= n:
        raise ValueError(f"first size {first} outside 0..{n}")
    if first in (0, n):
        return []

    def subproof(m: int, lo: int, hi: int, complete: bool) -> list[bytes]:
        size = hi - lo
        if m == size:
            return [] if complete else [mth(lo, hi)]
        k = split_point(size)
        if m <= k:
            return [*subproof(m, lo, lo + k, complete), mth(lo + k, hi)]
        return [*subproof(m - k, lo + k, hi, False), mth(lo, lo + k)]

    return subproof(first, 0, n, True)


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """RFC 9162 2.1.3.2: the root that ``proof`` implies for ``leaf`` at ``index`` of ``size``."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} outside a tree of size {size}")
    fn, sn = index, size - 1
    r = leaf
    for p in proof:
        if len(p) != 32:
            raise ValueError("proof elements must be 32-byte hashes")
        if sn == 0:
            raise ValueError("inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ValueError("inclusion proof is shorter than the tree is deep")
    return r


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], expected_root: bytes) -> bool:
    try:
        return root_from_inclusion_proof(index, size, leaf, proof) == expected_root
    except ValueError:
        return False


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 2.1.4.2: does ``proof`` show tree ``first`` is a prefix of tree ``second``?"""
    if first < 0 or second < first:
        return False
    if first == second:
        return not proof and first_root == second_root
    if first == 0:
        return not proof  # the empty tree is a prefix of every tree
    if not proof or any(len(p) != 32 for p in proof):
        return False
    path = list(proof)
    if first & (first - 1) == 0:  # a power of two: the first root is itself a node of the proof
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0


class CompactRange:
    """Roots of the perfect subtrees covering leaves ``[0, size)``, largest first."""

    __slots__ = ("size", "nodes")

    def __init__(self, size: int = 0, nodes: Sequence[bytes] = ()) -> None:
        if len(nodes) != bin(size).count("1"):
            raise ValueError(f"a compact range of size {size} has {bin(size).count('1')} nodes, not {len(nodes)}")
        self.size = size
        self.nodes = list(nodes)

    def append(self, leaf: bytes) -> None:
        node, s = leaf, self.size
        while s & 1:
            node = node_hash(self.nodes.pop(), node)
            s >>= 1
        self.nodes.append(node)
        self.size += 1

    def root(self) -> bytes:
        if not self.nodes:
            return EMPTY_ROOT
        r = self.nodes[-1]
        for left in reversed(self.nodes[:-1]):
            r = node_hash(left, r)
        return r

    def copy(self) -> CompactRange:
        return CompactRange(self.size, list(self.nodes))
