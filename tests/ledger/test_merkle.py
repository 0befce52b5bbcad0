"""RFC 6962 hashing and proofs against the Certificate Transparency project's reference vectors.

Vectors: google/certificate-transparency, ``cpp/merkletree/merkle_tree_test.cc`` (``kInputs``,
``kSHA256Roots``, ``kSHA256Paths``, ``kSHA256Proofs``; generated there from the RFC's reference
definitions). Their path vectors number leaves from 1; ours are 0-based.
"""

from __future__ import annotations

import hashlib

import pytest

from brokercare.ledger import merkle

INPUTS = [bytes.fromhex(h) for h in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f",
)]
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
# (0-based leaf, tree size, audit path)
PATHS = [
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (0, 1, []),
]
# (first size, second size, consistency proof)
PROOFS = [
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]
LEAVES = [merkle.leaf_hash(d) for d in INPUTS]


def test_empty_tree_and_hash_prefixes():
    assert merkle.root([]).hex() == EMPTY
    assert merkle.leaf_hash(b"").hex() == ROOTS[0]  # a one-leaf tree's root is its leaf hash
    assert merkle.leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
    assert merkle.node_hash(LEAVES[0], LEAVES[1]).hex() == ROOTS[1]


@pytest.mark.parametrize("size", range(1, 9))
def test_reference_roots(size):
    assert merkle.root(LEAVES[:size]).hex() == ROOTS[size - 1]
    compact = merkle.CompactRange()
    for leaf in LEAVES[:size]:
        compact.append(leaf)
    assert compact.root().hex() == ROOTS[size - 1]


@pytest.mark.parametrize(("index", "size", "path"), PATHS)
def test_reference_inclusion_proofs(index, size, path):
    proof = merkle.inclusion_proof(index, LEAVES[:size])
    assert [p.hex() for p in proof] == path
    assert merkle.verify_inclusion(index, size, LEAVES[index], proof, bytes.fromhex(ROOTS[size - 1]))


@pytest.mark.parametrize(("first", "second", "path"), PROOFS)
def test_reference_consistency_proofs(first, second, path):
    proof = merkle.consistency_proof(first, LEAVES[:second])
    assert [p.hex() for p in proof] == path
    assert merkle.verify_consistency(first, second, bytes.fromhex(ROOTS[first - 1]),
                                     bytes.fromhex(ROOTS[second - 1]), proof)


def test_every_proof_verifies_up_to_70_leaves():
    leaves = [merkle.leaf_hash(f"工单{i}".encode()) for i in range(70)]
    roots = [merkle.root(leaves[:n]) for n in range(71)]
    for n in range(1, 71):
        for i in range(n):
            proof = merkle.inclusion_proof(i, leaves[:n])
            assert merkle.verify_inclusion(i, n, leaves[i], proof, roots[n]), (i, n)
        for m in range(0, n + 1):
            proof = merkle.consistency_proof(m, leaves[:n])
            assert merkle.verify_consistency(m, n, roots[m], roots[n], proof), (m, n)


def test_wrong_inclusion_proofs_fail():
    index, size, path = PATHS[1]
    proof = [bytes.fromhex(p) for p in path]
    root8 = bytes.fromhex(ROOTS[7])
    leaf = LEAVES[index]
    assert not merkle.verify_inclusion(index - 1, size, leaf, proof, root8)
    assert not merkle.verify_inclusion(index + 1, size, leaf, proof, root8)
    assert not merkle.verify_inclusion(index, size * 2, leaf, proof, root8)
    assert not merkle.verify_inclusion(index, size // 2, leaf, proof, root8)
    assert not merkle.verify_inclusion(index, size, merkle.leaf_hash(b"WrongLeaf"), proof, root8)
    assert not merkle.verify_inclusion(index, size, leaf, proof, bytes.fromhex(EMPTY))
    for j in range(len(proof)):
        wrong = list(proof)
        wrong[j] = bytes.fromhex(EMPTY)
        assert not merkle.verify_inclusion(index, size, leaf, wrong, root8)
    assert not merkle.verify_inclusion(index, size, leaf, [*proof, root8], root8)
    assert not merkle.verify_inclusion(index, size, leaf, proof[:-1], root8)
    assert not merkle.verify_inclusion(index, size, leaf, [b"", *proof], root8)
    assert not merkle.verify_inclusion(8, 8, leaf, proof, root8)


def test_wrong_consistency_proofs_fail():
    first, second, path = PROOFS[2]
    proof = [bytes.fromhex(p) for p in path]
    r1, r2 = bytes.fromhex(ROOTS[first - 1]), bytes.fromhex(ROOTS[second - 1])
    assert merkle.verify_consistency(first, second, r1, r2, proof)
    assert not merkle.verify_consistency(first - 1, second, r1, r2, proof)
    assert not merkle.verify_consistency(first + 1, second, r1, r2, proof)
    assert not merkle.verify_consistency(first, second * 2, r1, r2, proof)
    assert not merkle.verify_consistency(first, second, r2, r1, proof)
    assert not merkle.verify_consistency(first, second, r1, bytes.fromhex(EMPTY), proof)
    assert not merkle.verify_consistency(first, second, r1, r2, [])
    for j in range(len(proof)):
        wrong = list(proof)
        wrong[j] = bytes.fromhex(EMPTY)
        assert not merkle.verify_consistency(first, second, r1, r2, wrong)
    assert not merkle.verify_consistency(first, second, r1, r2, [*proof, proof[-1]])
    assert not merkle.verify_consistency(first, second, r1, r2, proof[:-1])
    assert not merkle.verify_consistency(2, 1, r1, r2, [])  # time travel to the past
    assert not merkle.verify_consistency(1, 2, r1, r2, [])
