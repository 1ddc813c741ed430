#!/usr/bin/env python3
"""An independent implementation of docs/protocol.md, Appendix A, checked against the golden
vectors in crates/protocol/vectors/*.json.

Written from the document alone (as a team in another language would), with the Python standard
library only: Ed25519 (RFC 8032, with the acceptance rule of A.3) and ECVRF-EDWARDS25519-SHA512-TAI
(RFC 9381) are implemented below. It recomputes every hash, id, signing-bytes string, signature,
VRF proof, chain id, tree hash, Merkle root, proposal and evidence content, state leaf and state
root, delay output, draw and routing slot the vectors hold, prints one line per check and ends
with "N checks, M mismatches" (exit status 1 on any mismatch).

Run from the repository root:  python3 tests/spec/check_vectors.py [VECTOR_DIR]
(VECTOR_DIR defaults to crates/protocol/vectors).
"""

import hashlib
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VECTORS = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "crates", "protocol", "vectors")


def sha256(b):
    return hashlib.sha256(b).digest()


def sha512(b):
    return hashlib.sha512(b).digest()


def unhex(s):
    return bytes.fromhex(s)


# ---------------------------------------------------------------------------------------------
# A.1 Primitives


class Canon:
    """Canonical bytes: u8, u32/u64 big-endian, fixed 32/64/80-byte fields, u32-prefixed bytes."""

    def __init__(self, tag=None):
        self.b = bytearray()
        if tag is not None:
            self.bytes(tag.encode("ascii"))

    @classmethod
    def signed(cls, tag, chain):
        c = cls(tag)
        c.fixed(chain, 32)
        return c

    def u8(self, v):
        assert 0 <= v < 1 << 8
        self.b += bytes([v])
        return self

    def u32(self, v):
        self.b += v.to_bytes(4, "big")
        return self

    def u64(self, v):
        self.b += v.to_bytes(8, "big")
        return self

    def fixed(self, x, n):
        assert len(x) == n, (len(x), n)
        self.b += x
        return self

    def h32(self, x):
        return self.fixed(x, 32)

    def bytes(self, x):
        self.u32(len(x))
        self.b += x
        return self

    def out(self):
        return bytes(self.b)

    def hash(self):
        return sha256(bytes(self.b))


ZERO32 = bytes(32)

# ---------------------------------------------------------------------------------------------
# A.3 Ed25519 (RFC 8032) with the acceptance rule of rule 6

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = (-121665 * pow(121666, P - 2, P)) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)


def inv(x):
    return pow(x, P - 2, P)


def padd(a, b):
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    A = (y1 - x1) * (y2 - x2) % P
    B = (y1 + x1) * (y2 + x2) % P
    C = t1 * 2 * D * t2 % P
    Dd = z1 * 2 * z2 % P
    E, F, G, H = B - A, Dd - C, Dd + C, B + A
    return (E * F % P, G * H % P, F * G % P, E * H % P)


def pneg(a):
    x, y, z, t = a
    return ((-x) % P, y, z, (-t) % P)


IDENT = (0, 1, 1, 0)


def pmul(s, pt):
    q = IDENT
    while s > 0:
        if s & 1:
            q = padd(q, pt)
        pt = padd(pt, pt)
        s >>= 1
    return q


def is_identity(a):
    x, y, z, _ = a
    return x % P == 0 and (y - z) % P == 0


def encode(pt):
    x, y, z, _ = pt
    zi = inv(z)
    x, y = x * zi % P, y * zi % P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def decode(s):
    """A canonical point encoding, or None: y < p, no sign bit when x = 0, on the curve."""
    if len(s) != 32:
        return None
    v = int.from_bytes(s, "little")
    sign = v >> 255
    y = v & ((1 << 255) - 1)
    if y >= P:
        return None
    x2 = (y * y - 1) * inv(D * y * y + 1) % P
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P != 0:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P != 0:
        return None
    if x == 0 and sign == 1:
        return None
    if x & 1 != sign:
        x = P - x
    return (x, y, 1, x * y % P)


GY = 4 * inv(5) % P
BASE = decode(GY.to_bytes(32, "little"))


def small_order(pt):
    return is_identity(pmul(8, pt))


def secret_scalar(seed):
    h = sha512(seed)
    a = int.from_bytes(h[:32], "little")
    a &= (1 << 254) - 8
    a |= 1 << 254
    return a, h


def public_key(seed):
    a, _ = secret_scalar(seed)
    return encode(pmul(a, BASE))


def sign(seed, msg):
    a, h = secret_scalar(seed)
    A = encode(pmul(a, BASE))
    r = int.from_bytes(sha512(h[32:] + msg), "little") % L
    R = encode(pmul(r, BASE))
    k = int.from_bytes(sha512(R + A + msg), "little") % L
    s = (r + k * a) % L
    return R + s.to_bytes(32, "little")


def verify(pk, msg, sig):
    """Rule 6: canonical A and R, A not of small order, s < l, cofactored equation."""
    A = decode(pk)
    if A is None or small_order(A):
        return False
    R = decode(sig[:32])
    if R is None:
        return False
    s = int.from_bytes(sig[32:], "little")
    if s >= L:
        return False
    k = int.from_bytes(sha512(sig[:32] + pk + msg), "little") % L
    p = padd(padd(pmul(s, BASE), pneg(R)), pneg(pmul(k, A)))
    return is_identity(pmul(8, p))


# ---------------------------------------------------------------------------------------------
# A.11 ECVRF-EDWARDS25519-SHA512-TAI (RFC 9381, suite 0x03)


def encode_to_curve(pk, alpha):
    for ctr in range(256):
        hs = sha512(b"\x03\x01" + pk + alpha + bytes([ctr, 0]))
        pt = decode(hs[:32])
        if pt is not None:
            return pmul(8, pt)
    raise ValueError("encode_to_curve: no point")


def vrf_challenge(points):
    return sha512(b"\x03\x02" + b"".join(encode(p) for p in points) + b"\x00")[:16]


def vrf_beta(gamma):
    return sha512(b"\x03\x03" + encode(pmul(8, gamma)) + b"\x00")


def vrf_prove(seed, alpha):
    x, h = secret_scalar(seed)
    Y = pmul(x, BASE)
    pk = encode(Y)
    H = encode_to_curve(pk, alpha)
    gamma = pmul(x, H)
    k = int.from_bytes(sha512(h[32:64] + encode(H)), "little") % L
    c = vrf_challenge([Y, H, gamma, pmul(k, BASE), pmul(k, H)])
    s = (k + int.from_bytes(c, "little") * x) % L
    return encode(gamma) + c + s.to_bytes(32, "little"), vrf_beta(gamma)


def vrf_verify(pk, alpha, pi):
    """Returns beta, or None."""
    Y = decode(pk)
    if Y is None or small_order(Y):
        return None
    gamma = decode(pi[:32])
    if gamma is None:
        return None
    c = pi[32:48]
    s = int.from_bytes(pi[48:80], "little")
    if s >= L:
        return None
    H = encode_to_curve(pk, alpha)
    ci = int.from_bytes(c, "little")
    U = padd(pmul(s, BASE), pneg(pmul(ci, Y)))
    V = padd(pmul(s, H), pneg(pmul(ci, gamma)))
    if vrf_challenge([Y, H, gamma, U, V]) != c:
        return None
    return vrf_beta(gamma)


def vrf_proof_to_hash(pi):
    gamma = decode(pi[:32])
    return None if gamma is None else vrf_beta(gamma)


# ---------------------------------------------------------------------------------------------
# A.4 Genesis

PARAM_ORDER = [
    ("l0_ms", "u64"),
    ("window", "u64"),
    ("phi_permille", "u64"),
    ("delta_permille", "u64"),
    ("seats", "u64"),
    ("waves", "waves"),
    ("wave_gap_permille", "u64"),
    ("step_timeout_permille", "u64"),
    ("backups", "u64"),
    ("payroll", "u64"),
    ("pow_bits", "u32"),
    ("draw_delay", "u64"),
    ("delay_blocks", "u64"),
    ("delay_iterations", "u64"),
    ("delay_segments", "u64"),
    ("coinbase", "u64"),
    ("signer_share_permille", "u64"),
    ("wage", "u64"),
    ("sponsor_share_permille", "u64"),
    ("max_tx_bytes", "u64"),
    ("max_batch_bytes", "u64"),
    ("nonce_window", "u64"),
    ("batch_expiry", "u64"),
    ("min_bond", "u64"),
    ("registration_age", "u64"),
    ("max_evidence", "u64"),
]

ROLES = ["vote", "vrf", "batch", "micro", "sponsor"]


def genesis_bytes(g):
    c = Canon("daoli/v2/genesis")
    c.bytes(g["network"].encode("utf-8"))
    prm = g["params"]
    for name, kind in PARAM_ORDER:
        v = prm[name]
        if kind == "u64":
            c.u64(v)
        elif kind == "u32":
            c.u32(v)
        else:
            c.u32(len(v))
            for w in v:
                c.u64(w)
    c.u32(len(g["founders"]))
    for f in g["founders"]:
        c.h32(unhex(f["root"]))
        for r in ROLES:
            c.h32(unhex(f["keys"][r]))
        c.bytes(f["endpoint"].encode("utf-8")).u64(f["bond"])
    c.u32(len(g["seats"]))
    for s in g["seats"]:
        c.h32(unhex(s))
    c.h32(unhex(g["seed"])).u64(g["timestamp_ms"])
    c.u32(len(g["accounts"]))
    for k, bal in g["accounts"]:
        c.h32(unhex(k)).u64(bal)
    c.u32(len(g["rounds"]))
    for r in g["rounds"]:
        c.u64(r["open_height"]).u64(r["close_height"]).u64(r["price"]).u32(r["winners"])
    pl = g["periodic_lottery"]
    if pl is None:
        c.u8(0)
    else:
        c.u8(1).u64(pl["every"]).u64(pl["length"]).u64(pl["price"]).u32(pl["winners"])
    return c.out()


# ---------------------------------------------------------------------------------------------
# A.5 Transactions


def tx_body(tx):
    c = Canon()
    c.h32(unhex(tx["sender"])).u64(tx["nonce"]).u64(tx["fee"])
    (kind, f), = tx["kind"].items()
    if kind == "Transfer":
        c.u8(0).h32(unhex(f["to"])).u64(f["amount"])
    elif kind == "BuyTicket":
        c.u8(1).u64(f["round"])
    elif kind == "Register":
        c.u8(2)
        for r in ROLES:
            c.h32(unhex(f["keys"][r]))
        c.bytes(f["endpoint"].encode("utf-8")).u64(f["bond"])
    else:
        raise ValueError(kind)
    c.bytes(unhex(tx["memo"]))
    return c.out()


def tx_signing_bytes(tx, chain):
    return Canon.signed("daoli/v2/tx", chain).out() + tx_body(tx)


def tx_id(tx):
    c = Canon("daoli/v2/tx-id")
    c.b += tx_body(tx)
    c.fixed(unhex(tx["sig"]), 64)
    return c.hash()


def tx_size(tx):
    return len(tx_body(tx)) + 64


# ---------------------------------------------------------------------------------------------
# A.6 Statements

KINDS = {"Vote": 1, "Proposal": 2, "Micro": 3, "Batch": 4, "LotMiner": 5, "LotSponsor": 6}
STEPS = {"Prevote": 0, "Precommit": 1}


def slot_fields(c, kind, signer, height, rnd, sub, subject):
    c.u8(kind).h32(signer).u64(height).u32(rnd).u32(sub).h32(subject)


def statement_bytes(chain, kind, signer, height, rnd, sub, subject, content):
    c = Canon.signed("daoli/v2/statement", chain)
    slot_fields(c, kind, signer, height, rnd, sub, subject)
    c.h32(content)
    return c.out()


def vote_content(value, timestamp):
    c = Canon("daoli/v2/vote")
    if value is None:
        c.u8(0).h32(ZERO32)
    else:
        c.u8(1).h32(value)
    c.u64(timestamp)
    return c.hash()


def vote_fields(v):
    value = None if v["value"] is None else unhex(v["value"])
    return value, v["timestamp"]


def vote_signing_bytes(v, chain):
    value, ts = vote_fields(v)
    return statement_bytes(chain, 1, unhex(v["voter"]), v["height"], v["round"], STEPS[v["step"]],
                           ZERO32, vote_content(value, ts))


NO_ROUND = 0xFFFFFFFF


def proposal_content(valid_round, block_hash_):
    return Canon("daoli/v2/proposal").u32(NO_ROUND if valid_round is None else valid_round).h32(block_hash_).hash()


def evidence_hash(e):
    s = e["slot"]
    c = Canon("daoli/v2/evidence")
    slot_fields(c, KINDS[s["kind"]], unhex(s["signer"]), s["height"], s["round"], s["sub"],
                unhex(s["subject"]))
    for side in ("a", "b"):
        c.h32(unhex(e[side]["content"])).fixed(unhex(e[side]["sig"]), 64)
    return c.hash()


# ---------------------------------------------------------------------------------------------
# A.7 Lots, luck, trees


def lot_hash(lot):
    c = Canon("daoli/v2/lot")
    c.u64(lot["height"]).h32(unhex(lot["prev_hash"])).h32(unhex(lot["miner"]))
    c.h32(unhex(lot["sponsor"])).u64(lot["nonce"])
    return c.hash()


def lot_id(lot):
    c = Canon("daoli/v2/lot-id")
    c.h32(lot_hash(lot)).fixed(unhex(lot["miner_sig"]), 64).fixed(unhex(lot["sponsor_sig"]), 64)
    return c.hash()


def luck(seed, lh):
    return Canon("daoli/v2/luck").h32(seed).h32(lh).hash()


def leading_zero_bits(h):
    n = 0
    for byte in h:
        if byte == 0:
            n += 8
        else:
            n += 8 - byte.bit_length()
            break
    return n


def lot_miner_bytes(lot, chain):
    return statement_bytes(chain, 5, unhex(lot["miner"]), lot["height"], 0, 0, ZERO32, lot_hash(lot))


def lot_sponsor_bytes(lot, chain):
    return statement_bytes(chain, 6, unhex(lot["sponsor"]), lot["height"], 0, 0, unhex(lot["miner"]),
                           lot_hash(lot))


def tree_hash(tree):
    c = Canon("daoli/v2/tree").u32(len(tree))
    for lot in tree:
        c.h32(lot_id(lot))
    return c.hash()


# ---------------------------------------------------------------------------------------------
# A.8 Merkle roots and batches


def merkle_root(items):
    if not items:
        return ZERO32
    level = [Canon("daoli/v2/merkle-leaf").h32(x).hash() for x in items]
    while len(level) > 1:
        nxt = []
        for i in range(0, len(level), 2):
            if i + 1 < len(level):
                nxt.append(Canon("daoli/v2/merkle-node").h32(level[i]).h32(level[i + 1]).hash())
            else:
                nxt.append(level[i])
        level = nxt
    return level[0]


def batch_tx_root(b):
    return merkle_root([tx_id(t) for t in b["txs"]])


def batch_digest(b):
    return Canon("daoli/v2/batch").u64(b["cycle"]).u32(b["slot"]).h32(batch_tx_root(b)).hash()


def batch_id(b):
    c = Canon("daoli/v2/batch-id")
    c.h32(batch_digest(b)).h32(unhex(b["buffer_pk"])).fixed(unhex(b["sig"]), 64)
    return c.hash()


# ---------------------------------------------------------------------------------------------
# A.9, A.10 MicroBlocks, QCs, headers, blocks


def vote_list(c, votes):
    c.u32(len(votes))
    for v in votes:
        c.h32(unhex(v["voter"])).u64(v["timestamp"]).fixed(unhex(v["sig"]), 64)


def qc_hash(qc):
    c = Canon("daoli/v2/qc").u64(qc["height"]).u32(qc["round"]).h32(unhex(qc["value"]))
    vote_list(c, qc["precommits"])
    return c.hash()


def micro_hash(m):
    c = Canon("daoli/v2/microblock")
    c.u64(m["height"]).u32(m["producer_rank"]).h32(unhex(m["producer_pk"]))
    c.u32(len(m["batches"]))
    for r in m["batches"]:
        c.u64(r["cycle"]).u32(r["slot"]).h32(unhex(r["digest"]))
    c.h32(ZERO32 if m["prev_qc"] is None else qc_hash(m["prev_qc"]))
    vote_list(c, m["prev_prevotes"])
    c.u32(len(m["evidence"]))
    for e in m["evidence"]:
        c.h32(evidence_hash(e))
    return c.hash()


def micro_signing_bytes(m, chain):
    return statement_bytes(chain, 3, unhex(m["producer_pk"]), m["height"], 0, 0, ZERO32, micro_hash(m))


def micro_id(m):
    return Canon("daoli/v2/microblock-id").h32(micro_hash(m)).fixed(unhex(m["sig"]), 64).hash()


def delay_proof_hash(d):
    c = Canon("daoli/v2/delay-proof").h32(unhex(d["seed"])).u64(d["iterations"])
    c.u32(len(d["checkpoints"]))
    for x in d["checkpoints"]:
        c.h32(unhex(x))
    c.h32(unhex(d["output"]))
    return c.hash()


def header_hash(hd):
    c = Canon("daoli/v2/header").u64(hd["height"]).h32(unhex(hd["prev_hash"])).h32(unhex(hd["seed"]))
    if hd["vrf_proof"] is None:
        c.u8(0)
    else:
        c.u8(1).fixed(unhex(hd["vrf_proof"]), 80)
    c.h32(unhex(hd["prev_state_root"]))
    if hd["delay"] is None:
        c.u8(0)
    else:
        c.u8(1).h32(delay_proof_hash(hd["delay"]))
    return c.hash()


def block_hash(b):
    mh = ZERO32 if b["micro"] is None else micro_hash(b["micro"])
    return Canon("daoli/v2/block").h32(header_hash(b["header"])).h32(tree_hash(b["tree"])).h32(mh).hash()


# ---------------------------------------------------------------------------------------------
# A.11 Seeds, A.12 delay, A.13 lottery


def seed_alpha(chain, prev_seed, h):
    return Canon.signed("daoli/v2/seed", chain).h32(prev_seed).u64(h).out()


def seed_fallback(chain, prev_seed, h):
    return Canon.signed("daoli/v2/seed-fallback", chain).h32(prev_seed).u64(h).hash()


def delay_evaluate(seed, T, C):
    x = Canon("daoli/v2/delay").h32(seed).u64(T).hash()
    bounds = [i * T // C for i in range(C + 1)]
    checkpoints = []
    done = 0
    for i in range(1, C + 1):
        for _ in range(bounds[i] - done):
            x = sha256(x)
        done = bounds[i]
        if i < C:
            checkpoints.append(x)
    return checkpoints, x


def route_hash(sender):
    return Canon("daoli/v2/route").h32(sender).hash()


def route_slot(sender, payroll):
    return int.from_bytes(route_hash(sender)[:8], "big") % payroll


def route_order(sender, payroll):
    s = route_slot(sender, payroll)
    return [(s + i) % payroll for i in range(payroll)]


def ticket_leaf(round_id, i, t):
    return Canon("daoli/v2/ticket").u64(round_id).u64(i).h32(unhex(t["owner"])).h32(unhex(t["tx_hash"])).hash()


def draw(seed, round_id, n, winners):
    if n == 0:
        return []
    count = min(winners, n)
    limit = 2**64 - (2**64 % n)
    out, chosen = [], set()
    for j in range(count):
        k = 0
        while True:
            v = int.from_bytes(Canon("daoli/v2/draw").h32(seed).u64(round_id).u64(j).u64(k).hash()[:8], "big")
            k += 1
            if v >= limit:
                continue
            idx = v % n
            if idx not in chosen:
                chosen.add(idx)
                out.append(idx)
                break
    return out


def payouts(price, tickets, winners):
    if not winners:
        return []
    pot = price * len(tickets)
    each = pot // len(winners)
    rem = pot - each * len(winners)
    return [[tickets[i]["owner"], each + (rem if j == 0 else 0)] for j, i in enumerate(winners)]


# ---------------------------------------------------------------------------------------------
# A.14 State root


def account_leaf(key, acct):
    return Canon("daoli/v2/account").h32(unhex(key)).u64(acct["balance"]).u64(acct["nonce"]).hash()


def round_leaf(r):
    tickets = [ticket_leaf(r["id"], i, t) for i, t in enumerate(r["tickets"])]
    c = Canon("daoli/v2/lottery-round")
    c.u64(r["id"]).u64(r["open_height"]).u64(r["close_height"]).u64(r["price"]).u32(r["winners"])
    c.h32(merkle_root(tickets))
    c.h32(ZERO32 if r["draw_seed"] is None else unhex(r["draw_seed"]))
    if r["drawn"] is None:
        c.u8(0)
    else:
        c.u8(1).u32(len(r["drawn"]))
        for i in r["drawn"]:
            c.u64(i)
    return c.hash()


def datacenter_leaf(root, d):
    c = Canon("daoli/v2/datacenter").h32(unhex(root))
    for r in ROLES:
        c.h32(unhex(d["keys"][r]))
    c.bytes(d["endpoint"].encode("utf-8")).u64(d["bond"]).u64(d["since"])
    if d["slashed_at"] is None:
        c.u8(0)
    else:
        c.u8(1).u64(d["slashed_at"])
    return c.hash()


def state_leaves(st):
    """The four leaf lists of A.14, each in ascending key order."""
    accounts = [account_leaf(k, st["accounts"][k]) for k in sorted(st["accounts"], key=unhex)]
    rounds = [round_leaf(st["rounds"][k]) for k in sorted(st["rounds"], key=int)]
    dcs = [datacenter_leaf(k, st["datacenters"][k]) for k in sorted(st["datacenters"], key=unhex)]
    included = [unhex(k) for k in sorted(st["included"], key=unhex)]
    return accounts, rounds, dcs, included


def state_root(st):
    accounts, rounds, dcs, included = state_leaves(st)
    c = Canon("daoli/v2/state").u64(st["height"])
    for leaves in (accounts, rounds, dcs, included):
        c.h32(merkle_root(leaves))
    c.u64(st["next_round"]).u64(st["owed_fees"]).u64(st["minted"]).u64(st["burned"]).u64(st["bonded"])
    return c.hash()


def genesis_state(g):
    """A.14, "Genesis state", from the genesis object alone (without `roles`, not hashed)."""
    return {
        "height": 0,
        "accounts": {k: {"balance": b, "nonce": 0} for k, b in g["accounts"]},
        "rounds": {str(i + 1): dict(id=i + 1, open_height=r["open_height"], close_height=r["close_height"],
                                    price=r["price"], winners=r["winners"], tickets=[], ticket_root=None,
                                    drawn=None, draw_seed=None) for i, r in enumerate(g["rounds"])},
        "next_round": 1 + len(g["rounds"]),
        "datacenters": {f["root"]: dict(keys=f["keys"], endpoint=f["endpoint"], bond=f["bond"], since=0,
                                        slashed_at=None) for f in g["founders"]},
        "included": {},
        "owed_fees": 0,
        "minted": sum(b for _, b in g["accounts"]) + sum(f["bond"] for f in g["founders"]),
        "burned": 0,
        "bonded": sum(f["bond"] for f in g["founders"]),
    }


# ---------------------------------------------------------------------------------------------
# The checks

checks = 0
mismatches = 0


def check(name, got, want):
    global checks, mismatches
    checks += 1
    if isinstance(got, bytes):
        got = got.hex()
    if isinstance(want, bytes):
        want = want.hex()
    if got == want:
        print(f"ok        {name}")
    else:
        mismatches += 1
        print(f"MISMATCH  {name}\n          got  {got}\n          want {want}")


def load(name):
    with open(os.path.join(VECTORS, name)) as f:
        return json.load(f)


def check_sig(name, pk, msg, sig, seed=None):
    """The signature verifies under rule 6; with the signer's seed, it is recomputed exactly."""
    check(f"{name}: signature verifies", verify(unhex(pk), msg, unhex(sig)), True)
    if seed is not None:
        check(f"{name}: public key from seed", public_key(unhex(seed)), pk)
        check(f"{name}: signature recomputed", sign(unhex(seed), msg), sig)


def check_genesis():
    v = load("genesis.json")
    g = v["genesis"]
    cb = genesis_bytes(g)
    check("genesis: canonical bytes", cb, v["canonical_bytes"])
    check("genesis: chain id", sha256(cb), v["chain_id"])
    for f, seeds in zip(g["founders"], v["founder_key_seeds"]):
        check(f"genesis: founder {f['endpoint']} root key from seed", public_key(unhex(seeds["root"])), f["root"])
        for r in ROLES:
            check(f"genesis: founder {f['endpoint']} {r} key from seed", public_key(unhex(seeds[r])), f["keys"][r])
    return unhex(v["chain_id"]), v


def check_tx(chain):
    v = load("tx.json")
    check("tx: chain id", v["chain_id"], chain.hex())
    for e in v["txs"]:
        tx = e["tx"]
        kind = next(iter(tx["kind"]))
        sb = tx_signing_bytes(tx, chain)
        check(f"tx {kind}: signing bytes", sb, e["signing_bytes"])
        check(f"tx {kind}: id", tx_id(tx), e["hash"])
        check(f"tx {kind}: size", tx_size(tx), e["size"])
        check_sig(f"tx {kind}", tx["sender"], sb, tx["sig"], e["signer_seed"])
        if kind == "Register":
            for r in ROLES:
                check(f"tx Register: {r} key from seed", public_key(unhex(e["role_key_seeds"][r])),
                      tx["kind"]["Register"]["keys"][r])


def check_lot(chain):
    v = load("lot.json")
    lot = v["lot"]
    lh = lot_hash(lot)
    check("lot: hash", lh, v["lot_hash"])
    check("lot: meets pow_bits", leading_zero_bits(lh) >= v["pow_bits"], True)
    check("lot: id", lot_id(lot), v["lot_id"])
    check("lot: luck rank", luck(unhex(v["luck_seed"]), lh), v["rank"])
    mb, sb = lot_miner_bytes(lot, chain), lot_sponsor_bytes(lot, chain)
    check("lot: miner signing bytes", mb, v["miner_signing_bytes"])
    check("lot: sponsor signing bytes", sb, v["sponsor_signing_bytes"])
    check("lot: statement length 167", len(mb), 167)
    check_sig("lot miner", lot["miner"], mb, lot["miner_sig"], v["miner_seed"])
    check_sig("lot sponsor", lot["sponsor"], sb, lot["sponsor_sig"], v["sponsor_seed"])


def check_one_batch(name, chain, v):
    b = v["batch"]
    for i, tx in enumerate(b["txs"]):
        kind = next(iter(tx["kind"]))
        check_sig(f"{name} tx {i} ({kind})", tx["sender"], tx_signing_bytes(tx, chain), tx["sig"])
    check(f"{name}: tx root", batch_tx_root(b), v["tx_root"])
    d = batch_digest(b)
    check(f"{name}: digest", d, v["digest"])
    sb = statement_bytes(chain, 4, unhex(b["buffer_pk"]), b["cycle"], 0, b["slot"], ZERO32, d)
    check(f"{name}: signing bytes", sb, v["signing_bytes"])
    check_sig(name, b["buffer_pk"], sb, b["sig"], v["buffer_seed"])
    check(f"{name}: id", batch_id(b), v["batch_id"])


def check_batch(chain):
    v = load("batch.json")
    check_one_batch("batch", chain, v)
    m = v["mixed"]
    check("mixed batch: holds Transfer, BuyTicket and Register",
          sorted({next(iter(t["kind"])) for t in m["batch"]["txs"]}), ["BuyTicket", "Register", "Transfer"])
    check_one_batch("mixed batch", chain, m)


def check_block(chain, genesis):
    v = load("block.json")
    check("block: chain id", v["chain_id"], chain.hex())
    b = v["block"]
    hd = b["header"]
    seats = {public_key(unhex(s)).hex(): s for s in v["seat_seeds"]}
    founder0 = genesis["founder_key_seeds"][0]

    # Delay proof (A.12).
    d = hd["delay"]
    C = len(d["checkpoints"]) + 1
    cps, out = delay_evaluate(unhex(d["seed"]), d["iterations"], C)
    check(f"block: delay checkpoints (T={d['iterations']}, C={C})", [x.hex() for x in cps], d["checkpoints"])
    check("block: delay output", out, d["output"])
    check("block: delay proof hash", delay_proof_hash(d), v["delay_proof_hash"])

    # Seed: the header's VRF proof gives the header's seed (A.11).
    beta = vrf_proof_to_hash(unhex(hd["vrf_proof"]))
    check("block: header seed = VRF proof output", beta[:32], hd["seed"])

    # Tree (A.7).
    seed = unhex(hd["seed"])
    ranks = [luck(seed, lot_hash(lot)) for lot in b["tree"]]
    for i, lot in enumerate(b["tree"]):
        check_sig(f"block tree lot {i} miner", lot["miner"], lot_miner_bytes(lot, chain), lot["miner_sig"])
        sponsor_seed = genesis["founder_key_seeds"][1]["sponsor"]
        check_sig(f"block tree lot {i} sponsor", lot["sponsor"], lot_sponsor_bytes(lot, chain),
                  lot["sponsor_sig"], sponsor_seed)
        check(f"block tree lot {i}: height and previous block", (lot["height"], lot["prev_hash"]),
              (hd["height"], hd["prev_hash"]))
    backups = genesis["genesis"]["params"]["backups"]
    ordered = all(ranks[0] < r for r in ranks[1:]) and all(
        ranks[i] < ranks[i + 1] for i in range(1, len(ranks) - 1) if i + 1 != backups + 1)
    check("block: tree in luck order under the header seed", ordered, True)
    check("block: tree hash", tree_hash(b["tree"]), v["tree_hash"])

    # MicroBlock with the previous QC, its prevotes and evidence (A.9).
    m = b["micro"]
    qc = m["prev_qc"]
    check("block: MicroBlock prev QC hash", qc_hash(qc), v["microblock_prev_qc_hash"])
    for i, pc in enumerate(qc["precommits"]):
        check(f"prev QC precommit {i}: fields match the QC",
              (pc["height"], pc["round"], pc["step"], pc["value"]), (qc["height"], qc["round"], "Precommit", qc["value"]))
        check_sig(f"prev QC precommit {i}", pc["voter"], vote_signing_bytes(pc, chain), pc["sig"], seats[pc["voter"]])
    for i, pv in enumerate(m["prev_prevotes"]):
        # The MicroBlock encodes voter, timestamp and signature only: rebuild the rest from the QC.
        rebuilt = dict(height=qc["height"], round=qc["round"], step="Prevote", value=qc["value"],
                       timestamp=pv["timestamp"], voter=pv["voter"])
        check_sig(f"prevote {i} (rebuilt from prev QC)", pv["voter"], vote_signing_bytes(rebuilt, chain),
                  pv["sig"], seats[pv["voter"]])
    mh = micro_hash(m)
    check("block: MicroBlock hash", mh, v["microblock_hash"])
    msb = micro_signing_bytes(m, chain)
    check("block: MicroBlock signing bytes", msb, v["microblock_signing_bytes"])
    check_sig("MicroBlock", m["producer_pk"], msb, m["sig"], founder0["micro"])

    # Evidence (A.6).
    e = v["evidence"]
    check("block: evidence is the one in the MicroBlock", m["evidence"], [e])
    s = e["slot"]
    check("evidence: contents ordered", unhex(e["a"]["content"]) < unhex(e["b"]["content"]), True)
    for side in ("a", "b"):
        sb = statement_bytes(chain, KINDS[s["kind"]], unhex(s["signer"]), s["height"], s["round"], s["sub"],
                             unhex(s["subject"]), unhex(e[side]["content"]))
        check_sig(f"evidence {side}", s["signer"], sb, e[side]["sig"], seats[s["signer"]])
    # The two contents are a prevote for the previous block and a nil prevote (timestamp 0).
    contents = sorted([vote_content(unhex(qc["value"]), 0), vote_content(None, 0)])
    check("evidence: contents are vote contents (value, nil)", [c.hex() for c in contents],
          [e["a"]["content"], e["b"]["content"]])
    check("evidence: hash", evidence_hash(e), v["evidence_hash"])

    # Header and block (A.10).
    check("block: header hash", header_hash(hd), v["header_hash"])
    bh = block_hash(b)
    check("block: block hash", bh, v["block_hash"])

    # The block's own QC and one of its votes (A.6, A.10).
    q = v["qc"]
    check("qc: value is the block hash", q["value"], bh.hex())
    check("qc: hash", qc_hash(q), v["qc_hash"])
    for i, pc in enumerate(q["precommits"]):
        check_sig(f"qc precommit {i}", pc["voter"], vote_signing_bytes(pc, chain), pc["sig"], seats[pc["voter"]])
    vote = v["vote"]
    value, ts = vote_fields(vote)
    check("vote: content", vote_content(value, ts), v["vote_content"])
    check("vote: signing bytes", vote_signing_bytes(vote, chain), v["vote_signing_bytes"])

    # The header's VRF proof against its input (A.11, rule 4): the producer is the VRF key of
    # founder 0, alpha is built from the previous seed.
    check("block: VRF producer key from founder 0's VRF seed", public_key(unhex(founder0["vrf"])), v["vrf_producer"])
    alpha = seed_alpha(chain, unhex(v["prev_seed"]), hd["height"])
    got = vrf_verify(unhex(v["vrf_producer"]), alpha, unhex(hd["vrf_proof"]))
    check("block: header VRF proof verifies against alpha(prev_seed, 42)", got is not None, True)
    check("block: header seed = verified VRF output", (got or bytes(64))[:32], hd["seed"])
    pi, _ = vrf_prove(unhex(founder0["vrf"]), alpha)
    check("block: header VRF proof recomputed", pi, hd["vrf_proof"])
    check("block: MicroBlock id", micro_id(m), v["microblock_id"])

    # A nil vote on its own (A.6).
    nv = v["nil_vote"]
    n = nv["vote"]
    check("nil vote: value is null", n["value"], None)
    value, ts = vote_fields(n)
    check("nil vote: content", vote_content(value, ts), nv["content"])
    nsb = vote_signing_bytes(n, chain)
    check("nil vote: signing bytes", nsb, nv["signing_bytes"])
    check_sig("nil vote", n["voter"], nsb, n["sig"], seats[n["voter"]])

    # Block 43: fallback seed (no VRF proof), no delay, no MicroBlock (A.10, A.11).
    fb = v["fallback_block"]
    b43 = fb["block"]
    h43 = b43["header"]
    check("block 43: previous block is block 42", h43["prev_hash"], bh.hex())
    check("block 43: no VRF proof, no delay, no MicroBlock", (h43["vrf_proof"], h43["delay"], b43["micro"]),
          (None, None, None))
    check("block 43: seed = fallback(seed_42, 43)", seed_fallback(chain, unhex(hd["seed"]), h43["height"]),
          h43["seed"])
    seed43 = unhex(h43["seed"])
    for i, lot in enumerate(b43["tree"]):
        check_sig(f"block 43 tree lot {i} miner", lot["miner"], lot_miner_bytes(lot, chain), lot["miner_sig"])
        check_sig(f"block 43 tree lot {i} sponsor", lot["sponsor"], lot_sponsor_bytes(lot, chain),
                  lot["sponsor_sig"], genesis["founder_key_seeds"][1]["sponsor"])
        check(f"block 43 tree lot {i}: height and previous block", (lot["height"], lot["prev_hash"]),
              (h43["height"], h43["prev_hash"]))
    ranks = [luck(seed43, lot_hash(lot)) for lot in b43["tree"]]
    check("block 43: tree in luck order under the fallback seed", all(ranks[0] < r for r in ranks[1:]), True)
    check("block 43: header hash", header_hash(h43), fb["header_hash"])
    check("block 43: tree hash", tree_hash(b43["tree"]), fb["tree_hash"])
    check("block 43: block hash", block_hash(b43), fb["block_hash"])

    # MicroBlock 1: no previous QC, no prevotes, no evidence (A.9).
    bm = v["bare_microblock"]
    mb = bm["microblock"]
    check("bare MicroBlock: no QC, prevotes or evidence", (mb["prev_qc"], mb["prev_prevotes"], mb["evidence"]),
          (None, [], []))
    check("bare MicroBlock: hash", micro_hash(mb), bm["hash"])
    bsb = micro_signing_bytes(mb, chain)
    check("bare MicroBlock: signing bytes", bsb, bm["signing_bytes"])
    check_sig("bare MicroBlock", mb["producer_pk"], bsb, mb["sig"], founder0["micro"])
    check("bare MicroBlock: id", micro_id(mb), bm["id"])


def proposal_bytes(p, chain, content):
    b = p["block"]
    return statement_bytes(chain, 2, unhex(p["proposer"]), b["header"]["height"], p["round"], 0, ZERO32, content)


def check_proposal(chain):
    v = load("proposal.json")
    check("proposal: chain id", v["chain_id"], chain.hex())
    for e in v["proposals"]:
        p = e["proposal"]
        name = f"proposal round {p['round']}"
        bh = block_hash(p["block"])
        check(f"{name}: block hash", bh, e["block_hash"])
        content = proposal_content(p["valid_round"], bh)
        check(f"{name}: content (valid_round {p['valid_round']})", content, e["content"])
        sb = proposal_bytes(p, chain, content)
        check(f"{name}: signing bytes", sb, e["signing_bytes"])
        check_sig(name, p["proposer"], sb, p["sig"], e["proposer_seed"])
        for i, pv in enumerate(p["pol"]):
            check(f"{name}: polka prevote {i} is for (height, valid_round, Prevote, block)",
                  (pv["height"], pv["round"], pv["step"], pv["value"]),
                  (p["block"]["header"]["height"], p["valid_round"], "Prevote", bh.hex()))
            check_sig(f"{name} polka prevote {i}", pv["voter"], vote_signing_bytes(pv, chain), pv["sig"])


def statement_of(kind, x):
    """(slot fields, content, signature) of a signed object, after A.6's table."""
    if kind == "Proposal":
        content = proposal_content(x["valid_round"], block_hash(x["block"]))
        slot = (KINDS[kind], x["proposer"], x["block"]["header"]["height"], x["round"], 0, ZERO32.hex())
        return slot, content, x["sig"]
    if kind == "Micro":
        return (KINDS[kind], x["producer_pk"], x["height"], 0, 0, ZERO32.hex()), micro_hash(x), x["sig"]
    if kind == "Batch":
        return (KINDS[kind], x["buffer_pk"], x["cycle"], 0, x["slot"], ZERO32.hex()), batch_digest(x), x["sig"]
    if kind == "LotSponsor":
        return (KINDS[kind], x["sponsor"], x["height"], 0, 0, x["miner"]), lot_hash(x), x["sponsor_sig"]
    raise ValueError(kind)


def check_evidence(chain):
    v = load("evidence.json")
    check("evidence: chain id", v["chain_id"], chain.hex())
    kinds = []
    for x in v["evidence"]:
        e = x["evidence"]
        s = e["slot"]
        kind = s["kind"]
        kinds.append(kind)
        name = f"evidence {kind}"
        slot = (KINDS[kind], s["signer"], s["height"], s["round"], s["sub"], s["subject"])
        (slot1, c1, sig1), (slot2, c2, sig2) = [statement_of(kind, st) for st in x["statements"]]
        check(f"{name}: both statements fill the evidence's slot", [slot1, slot2], [slot, slot])
        check(f"{name}: the statements' contents differ", c1 != c2, True)
        lo, hi = sorted([(c1, sig1), (c2, sig2)])
        check(f"{name}: (a, b) = the statements' (content, sig), lower content first",
              [e["a"]["content"], e["a"]["sig"], e["b"]["content"], e["b"]["sig"]],
              [lo[0].hex(), lo[1], hi[0].hex(), hi[1]])
        if kind == "Proposal":
            check(f"{name}: round >= 1 (round-0 proposals are never evidence)", s["round"] >= 1, True)
        for i, side in enumerate(("a", "b")):
            sb = statement_bytes(chain, KINDS[kind], unhex(s["signer"]), s["height"], s["round"], s["sub"],
                                 unhex(s["subject"]), unhex(e[side]["content"]))
            check(f"{name} {side}: signing bytes", sb, x["signing_bytes"][i])
            check_sig(f"{name} {side}", s["signer"], sb, e[side]["sig"], x["signer_seed"])
        check(f"{name}: hash", evidence_hash(e), x["evidence_hash"])
    check("evidence: kinds covered", kinds, ["Proposal", "Micro", "Batch", "LotSponsor"])


def check_state(genesis):
    v = load("state.json")
    check("state: chain id", v["chain_id"], genesis["chain_id"])
    g = genesis["genesis"]
    want = genesis_state(g)
    got = {k: x for k, x in v["genesis"]["state"].items() if k in want}
    check("state: genesis state derived from genesis.json (A.14)", got, want)
    for name in ("genesis", "executed"):
        e = v[name]
        st = e["state"]
        accounts, rounds, dcs, included = state_leaves(st)
        check(f"state {name}: account leaves ({len(accounts)})", [x.hex() for x in accounts], e["account_leaves"])
        check(f"state {name}: round leaves ({len(rounds)})", [x.hex() for x in rounds], e["round_leaves"])
        check(f"state {name}: datacenter leaves ({len(dcs)})", [x.hex() for x in dcs], e["datacenter_leaves"])
        check(f"state {name}: accounts root", merkle_root(accounts), e["accounts_root"])
        check(f"state {name}: rounds root", merkle_root(rounds), e["rounds_root"])
        check(f"state {name}: datacenters root", merkle_root(dcs), e["datacenters_root"])
        check(f"state {name}: included root ({len(included)} digests)", merkle_root(included), e["included_root"])
        check(f"state {name}: state root (height {st['height']})", state_root(st), e["root"])
        pots = sum(r["price"] * len(r["tickets"]) for r in st["rounds"].values() if r["drawn"] is None)
        supply = sum(a["balance"] for a in st["accounts"].values()) + st["bonded"] + st["owed_fees"] + pots
        check(f"state {name}: supply = minted - burned (B.4)", supply, st["minted"] - st["burned"])
        for k, r in st["rounds"].items():
            if r["ticket_root"] is not None:
                leaves = [ticket_leaf(r["id"], i, t) for i, t in enumerate(r["tickets"])]
                check(f"state {name}: round {k} ticket root", merkle_root(leaves), r["ticket_root"])
    check("state: genesis root is 1b233f7d...", v["genesis"]["root"][:8], "1b233f7d")
    return v


def check_merkle():
    v = load("merkle.json")
    for c in v["cases"]:
        items = [unhex(x) for x in c["items"]]
        leaves = [Canon("daoli/v2/merkle-leaf").h32(x).hash() for x in items]
        check(f"merkle ({len(items)} items): leaves", [x.hex() for x in leaves], c["leaves"])
        check(f"merkle ({len(items)} items): root", merkle_root(items), c["root"])
    check("merkle: the empty root is 32 zero bytes", v["cases"][0]["root"], ZERO32.hex())


def check_routing(genesis):
    v = load("routing.json")
    payrolls = sorted({r["payroll"] for r in v["routes"]})
    check("routing: the genesis payroll P is among the vectors'", genesis["genesis"]["params"]["payroll"] in payrolls,
          True)
    for r in v["routes"]:
        s = unhex(r["sender"])
        name = f"routing {r['sender'][:8]} P={r['payroll']}"
        check(f"{name}: route hash", route_hash(s), r["route_hash"])
        check(f"{name}: slot", route_slot(s, r["payroll"]), r["slot"])
        check(f"{name}: order", route_order(s, r["payroll"]), r["order"])


def check_seed_chain(chain):
    v = load("seed_chain.json")
    check("seed chain: chain id", v["chain_id"], chain.hex())
    prev = unhex(v["genesis_seed"])
    for i, link in enumerate(v["links"]):
        h = i + 1
        a = link["announcement"]
        alpha = seed_alpha(chain, prev, h)
        check(f"seed {h}: height", a["height"], h)
        check(f"seed {h}: alpha", alpha, link["alpha"])
        check(f"seed {h}: alpha length 89", len(alpha), 89)
        check(f"seed {h}: fallback", seed_fallback(chain, prev, h), link["fallback"])
        check(f"seed {h}: producer key from VRF seed", public_key(unhex(link["vrf_key_seed"])), a["producer"])
        pi, beta = vrf_prove(unhex(link["vrf_key_seed"]), alpha)
        check(f"seed {h}: VRF proof recomputed", pi, a["proof"])
        got = vrf_verify(unhex(a["producer"]), alpha, unhex(a["proof"]))
        check(f"seed {h}: VRF proof verifies", got is not None, True)
        check(f"seed {h}: seed = beta[0..32]", (got or beta)[:32], a["seed"])
        prev = unhex(a["seed"])


def check_lottery(chain, genesis, state):
    v = load("lottery.json")
    r = v["round"]
    leaves = [ticket_leaf(r["id"], i, t) for i, t in enumerate(r["tickets"])]
    check(f"lottery: ticket root ({len(leaves)} tickets)", merkle_root(leaves), v["ticket_root"])
    w = draw(unhex(v["draw_seed"]), r["id"], len(r["tickets"]), r["winners"])
    check("lottery: winners", w, v["winners"])
    check("lottery: payouts", payouts(r["price"], r["tickets"], w), v["payouts"])
    lg = v["large"]
    check(f"lottery: large draw ({lg['tickets']} tickets, {lg['winners']} winners)",
          draw(unhex(lg["seed"]), lg["round"], lg["tickets"], lg["winners"]), lg["drawn"])

    # A draw tied to its seed and delay (rule 5, A.12, A.13): round 1 of genesis.json.
    dd = v["delayed_draw"]
    r = dd["round"]
    prm = genesis["genesis"]["params"]
    D, E, T, C = prm["draw_delay"], prm["delay_blocks"], prm["delay_iterations"], prm["delay_segments"]
    check("delayed draw: round 1 as genesis.json schedules it",
          (r["id"], r["open_height"], r["close_height"], r["price"], r["winners"]),
          (1,) + tuple(genesis["genesis"]["rounds"][0][k] for k in ("open_height", "close_height", "price", "winners")))
    leaves = [ticket_leaf(r["id"], i, t) for i, t in enumerate(r["tickets"])]
    check(f"delayed draw: ticket root ({len(leaves)} tickets)", merkle_root(leaves), r["ticket_root"])
    check("delayed draw: draw height = close + D + E", dd["draw_height"], r["close_height"] + D + E)
    seeds = [unhex(genesis["genesis"]["seed"])]
    for hh in range(1, r["close_height"] + D + 1):
        seeds.append(seed_fallback(chain, seeds[-1], hh))
    check(f"delayed draw: seeds 0..{len(seeds) - 1} (fallback chain from the genesis seed)",
          [x.hex() for x in seeds], dd["seeds"])
    d = dd["delay"]
    check("delayed draw: delay over seed_{close+D} = seed_{h-E}", d["seed"], seeds[r["close_height"] + D].hex())
    check("delayed draw: T = delay_iterations, C = delay_segments",
          (d["iterations"], len(d["checkpoints"]) + 1), (T, C))
    cps, out = delay_evaluate(unhex(d["seed"]), T, C)
    check(f"delayed draw: delay checkpoints (T={T}, C={C})", [x.hex() for x in cps], d["checkpoints"])
    check("delayed draw: delay output", out, d["output"])
    check("delayed draw: delay proof hash", delay_proof_hash(d), dd["delay_proof_hash"])
    w = draw(out, r["id"], len(r["tickets"]), r["winners"])
    check("delayed draw: winners from the delay output", w, dd["winners"])
    check("delayed draw: payouts", payouts(r["price"], r["tickets"], w), dd["payouts"])
    done = state["executed"]["state"]["rounds"][str(r["id"])]
    check("delayed draw: the executed state holds it (tickets, drawn, draw_seed)",
          (done["tickets"], done["drawn"], done["draw_seed"]), (r["tickets"], w, out.hex()))


def main():
    # Self-checks of the primitives against their specifications (not vectors of this project).
    check("RFC 8032 test 1: public key",
          public_key(unhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")),
          "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    check("A.1 example", Canon("ab").u32(1).u64(2).bytes(b"xyz").out(),
          "0000000261620000000100000000000000020000000378797a")
    cps, out = delay_evaluate(bytes([7] * 32), 4, 2)
    check("A.12 worked example (seed 0x07..., T = 4, C = 2)", [cps[0].hex(), out.hex()],
          ["c39186ce824625ecfeaaea2d6c2568d05030d9c6aaf53c94a8dda2183956807f",
           "bb4b19aaa076fa8d9b91a806eb67420d1d4359635203c6762a8e3f8cb7176773"])
    chain, genesis = check_genesis()
    check_tx(chain)
    check_lot(chain)
    check_batch(chain)
    check_block(chain, genesis)
    check_seed_chain(chain)
    check_proposal(chain)
    check_evidence(chain)
    state = check_state(genesis)
    check_lottery(chain, genesis, state)
    check_merkle()
    check_routing(genesis)
    print(f"{checks} checks, {mismatches} mismatches")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
