//! Ed25519 keys and signatures. Signing is ed25519-dalek's (RFC 8032); verification is this
//! file's own, on curve25519-dalek, with ONE acceptance rule shared by [`verify`] and
//! [`verify_batch`] (protocol v2, rule 6):
//!
//! 1. `A` (the public key) and `R` (the first half of the signature) must be canonical point
//!    encodings: they decompress, and re-compressing gives the same 32 bytes (no `y >= p`, no
//!    sign bit on a point with `x = 0`). `s` (the second half) must be canonical: `s < l`.
//! 2. `A` must not be of small order (the 8 points of the 8-torsion, identity included). `R` may
//!    be of small order: only the key holder can produce such a signature (it needs
//!    `s = k·a`), and doing so reveals its secret key, so there is nothing to reject.
//! 3. Cofactored equation: `[8]([s]B - R - [k]A) == identity`, with
//!    `k = SHA-512(R_bytes || A_bytes || M) mod l` (RFC 8032).
//!
//! Because of the cofactor, torsion components in `A` or `R` are accepted the same way by both
//! paths (ZIP-215 style, but stricter on encodings and small-order keys). A batch checks rule 1
//! and 2 on every item, then one cofactored multiscalar equation
//! `[8]((Σ z_i s_i)B - Σ z_i R_i - Σ (z_i k_i) A_i) == identity` whose 128-bit coefficients
//! `z_i` are derived by Fiat-Shamir from every input of the equation (see
//! [`BATCH_COEFFICIENTS_DOMAIN`]), since the sans-IO core draws no randomness.
//!
//! v1 used ed25519-dalek's cofactorless `verify_strict` for single and its cofactorless,
//! randomised `verify_batch` for batches: the batch accepted a torsion component in `R` for
//! one coefficient in 8 (or 4, or 2) where strict single verification always rejected it, so a
//! batch-verified quorum certificate could carry a precommit that single-verified evidence
//! could never use. The tests below rebuild that disagreement.

use crate::codec::{Hash32, hex_array};
use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::VartimeMultiscalarMul;
use ed25519_dalek::{Signer as _, SigningKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha512};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigError {
    #[error("public key is not a canonical Ed25519 point of large order")]
    BadKey,
    #[error("signature is malformed (R is not a canonical point encoding, or s is not below l)")]
    Malformed,
    #[error("signature does not verify")]
    BadSignature,
    #[error("batch of {0} signatures does not verify")]
    BadBatch(usize),
}

/// Domain tag that starts the Fiat-Shamir transcript of a batch; see [`verify_batch`].
pub const BATCH_COEFFICIENTS_DOMAIN: &[u8] = b"DaoliCloud v2 ed25519 batch coefficients";

/// An Ed25519 public key (node, sponsor, miner or account key).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PublicKey(pub [u8; 32]);

impl PublicKey {
    pub fn as_hash(&self) -> Hash32 {
        Hash32(self.0)
    }
    pub fn short(&self) -> String {
        hex::encode(&self.0[..4])
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pk:{}", self.short())
    }
}

/// An Ed25519 signature.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature(pub [u8; 64]);

impl Default for Signature {
    fn default() -> Self {
        Signature([0; 64])
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sig:{}", hex::encode(&self.0[..4]))
    }
}

macro_rules! hex_serde {
    ($t:ty, $n:expr) => {
        impl Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&hex::encode(self.0))
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Ok(Self(hex_array::<$n>(&s).map_err(serde::de::Error::custom)?))
            }
        }
    };
}
hex_serde!(PublicKey, 32);
hex_serde!(Signature, 64);

/// A signing key. Deterministic from a 32-byte seed so that simulations and vectors replay.
#[derive(Clone)]
pub struct Keypair {
    sk: SigningKey,
}

impl fmt::Debug for Keypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Keypair({:?})", self.public())
    }
}

impl Keypair {
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Keypair {
            sk: SigningKey::from_bytes(&seed),
        }
    }
    /// A key derived from a label, for tests, genesis fixtures and the simulator.
    pub fn from_label(label: &str) -> Self {
        Self::from_seed(crate::codec::sha256(label.as_bytes()).0)
    }
    pub fn public(&self) -> PublicKey {
        PublicKey(self.sk.verifying_key().to_bytes())
    }
    pub fn seed(&self) -> [u8; 32] {
        self.sk.to_bytes()
    }
    pub fn sign(&self, msg: &[u8]) -> Signature {
        Signature(self.sk.sign(msg).to_bytes())
    }
}

/// Little-endian encoding of the field modulus p = 2^255 - 19.
const FIELD_P: [u8; 32] = {
    let mut p = [0xff; 32];
    p[0] = 0xed;
    p[31] = 0x7f;
    p
};

/// `y < p` for a little-endian 255-bit `y` (sign bit already cleared).
fn below_p(y: &[u8; 32]) -> bool {
    for i in (0..32).rev() {
        if y[i] != FIELD_P[i] {
            return y[i] < FIELD_P[i];
        }
    }
    false
}

/// Decodes a point from its canonical encoding only: exactly the encodings for which
/// decompression succeeds and re-compression gives the same 32 bytes back. Given successful
/// decompression that is "y < p, and no sign bit when x = 0" (x = 0 exactly when y = 1 or
/// y = p - 1). Checking the bytes spares the field inversion a re-compression costs; the test
/// `canonical_decoding_is_recompression` checks the two definitions agree.
fn decode_point(bytes: &[u8; 32]) -> Option<EdwardsPoint> {
    let mut y = *bytes;
    let sign = y[31] >> 7;
    y[31] &= 0x7f;
    if !below_p(&y) {
        return None;
    }
    let mut one = [0u8; 32];
    one[0] = 1;
    let mut p_minus_one = FIELD_P;
    p_minus_one[0] -= 1;
    if sign == 1 && (y == one || y == p_minus_one) {
        return None;
    }
    CompressedEdwardsY(*bytes).decompress()
}

/// One signature that passed the encoding and key checks (rules 1 and 2), with its challenge.
struct Checked {
    a: EdwardsPoint,
    r: EdwardsPoint,
    s: Scalar,
    k: Scalar,
}

/// Rules 1 and 2 and the challenge `k = SHA-512(R || A || M) mod l`; the same for both paths.
fn check(pk: &PublicKey, msg: &[u8], sig: &Signature) -> Result<Checked, SigError> {
    let a = decode_point(&pk.0)
        .filter(|a| !a.is_small_order())
        .ok_or(SigError::BadKey)?;
    let (r_bytes, s_bytes) = split(sig);
    let r = decode_point(&r_bytes).ok_or(SigError::Malformed)?;
    let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes)).ok_or(SigError::Malformed)?;
    let k = challenge(&r_bytes, &pk.0, msg);
    Ok(Checked { a, r, s, k })
}

fn split(sig: &Signature) -> ([u8; 32], [u8; 32]) {
    let mut r = [0u8; 32];
    let mut s = [0u8; 32];
    r.copy_from_slice(&sig.0[..32]);
    s.copy_from_slice(&sig.0[32..]);
    (r, s)
}

/// RFC 8032 challenge `k = SHA-512(R || A || M) mod l`, over the bytes as received.
fn challenge(r_bytes: &[u8; 32], a_bytes: &[u8; 32], msg: &[u8]) -> Scalar {
    let h: [u8; 64] = Sha512::new()
        .chain_update(r_bytes)
        .chain_update(a_bytes)
        .chain_update(msg)
        .finalize()
        .into();
    Scalar::from_bytes_mod_order_wide(&h)
}

/// Verifies one signature under the one acceptance rule (see the module docs): canonical `A`,
/// `R` and `s`, `A` not of small order, and `[8]([s]B - R - [k]A) == identity`.
pub fn verify(pk: &PublicKey, msg: &[u8], sig: &Signature) -> Result<(), SigError> {
    let c = check(pk, msg, sig)?;
    // [s]B - [k]A - R; `is_small_order` is exactly "[8]P == identity".
    let p = EdwardsPoint::vartime_double_scalar_mul_basepoint(&-c.k, &c.a, &c.s) - c.r;
    if p.is_small_order() {
        Ok(())
    } else {
        Err(SigError::BadSignature)
    }
}

/// The 128-bit batch coefficients, by Fiat-Shamir over every input of the batch equation:
/// `seed = SHA-512(BATCH_COEFFICIENTS_DOMAIN || u64le(n) || R_0 || A_0 || s_0 || k_0 || ... )`
/// (R, A, s as received, k as 32 canonical little-endian bytes), then
/// `z_i = u128le(SHA-512(seed || u64le(i))[0..16])`. The equation sees the message only
/// through k, so the transcript binds everything it depends on: a signer cannot pick its
/// signatures after seeing the z_i.
fn batch_coefficients(items: &[(PublicKey, &[u8], Signature)], checked: &[Checked]) -> Vec<Scalar> {
    let mut h = Sha512::new();
    h.update(BATCH_COEFFICIENTS_DOMAIN);
    h.update((items.len() as u64).to_le_bytes());
    for ((pk, _, sig), c) in items.iter().zip(checked) {
        h.update(&sig.0[..32]);
        h.update(pk.0);
        h.update(&sig.0[32..]);
        h.update(c.k.as_bytes());
    }
    let seed = h.finalize();
    (0..items.len() as u64)
        .map(|i| {
            let d = Sha512::new()
                .chain_update(seed)
                .chain_update(i.to_le_bytes())
                .finalize();
            let mut z = [0u8; 16];
            z.copy_from_slice(&d[..16]);
            Scalar::from(u128::from_le_bytes(z))
        })
        .collect()
}

/// Verifies many signatures at once, accepting exactly what [`verify`] accepts one by one:
/// rules 1 and 2 on every item, then `[8]((Σ z_i s_i)B - Σ z_i R_i - Σ (z_i k_i) A_i) ==
/// identity` with the z_i of [`batch_coefficients`]. With `P_i = [s_i]B - R_i - [k_i]A_i` the
/// batch equation is `Σ z_i [8]P_i == identity` and each single one is `[8]P_i == identity`:
/// items that all verify alone always pass together (exactly, whatever their torsion), and a
/// batch holding a bad item passes only with probability about 2^-128 per attempt. On failure the caller learns only that some signature is bad (or
/// [`SigError::BadKey`]/[`SigError::Malformed`] for the first item failing rule 1 or 2);
/// [`verify_batch_find`] names the culprit.
pub fn verify_batch(items: &[(PublicKey, &[u8], Signature)]) -> Result<(), SigError> {
    match items {
        [] => return Ok(()),
        [(pk, m, s)] => return verify(pk, m, s),
        _ => {}
    }
    let checked = items
        .iter()
        .map(|(pk, m, s)| check(pk, m, s))
        .collect::<Result<Vec<_>, _>>()?;
    let zs = batch_coefficients(items, &checked);
    let b_coefficient: Scalar = checked.iter().zip(&zs).map(|(c, z)| z * c.s).sum();
    let scalars = std::iter::once(b_coefficient)
        .chain(zs.iter().map(|z| -z))
        .chain(checked.iter().zip(&zs).map(|(c, z)| -(z * c.k)));
    let points = std::iter::once(ED25519_BASEPOINT_POINT)
        .chain(checked.iter().map(|c| c.r))
        .chain(checked.iter().map(|c| c.a));
    if EdwardsPoint::vartime_multiscalar_mul(scalars, points).is_small_order() {
        Ok(())
    } else {
        Err(SigError::BadBatch(items.len()))
    }
}

/// Verifies a batch and, if it fails, finds the first bad index.
pub fn verify_batch_find(items: &[(PublicKey, &[u8], Signature)]) -> Result<(), (usize, SigError)> {
    if verify_batch(items).is_ok() {
        return Ok(());
    }
    for (i, (pk, m, s)) in items.iter().enumerate() {
        verify(pk, m, s).map_err(|e| (i, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use curve25519_dalek::constants::EIGHT_TORSION;
    use proptest::prelude::*;

    /// The group order l, little-endian.
    const ORDER_L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];

    fn scalar(label: &str) -> Scalar {
        Scalar::from_bytes_mod_order_wide(&Sha512::digest(label.as_bytes()).into())
    }

    fn enc(p: EdwardsPoint) -> [u8; 32] {
        p.compress().0
    }

    /// A signature made from raw scalars, the way a (possibly malicious) signer can: `a_bytes`
    /// encodes `[a]B` plus any torsion, `r_bytes` encodes `[r]B` plus any torsion, and
    /// `s = r + k·a` with the RFC 8032 challenge over the bytes as given.
    fn raw_sign(a: Scalar, a_bytes: [u8; 32], r: Scalar, r_bytes: [u8; 32], msg: &[u8]) -> Signature {
        let s = r + challenge(&r_bytes, &a_bytes, msg) * a;
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(&r_bytes);
        sig[32..].copy_from_slice(&s.to_bytes());
        Signature(sig)
    }

    /// The bare cofactored equation, with every encoding taken at face value (s reduced mod l):
    /// shows that a rejection comes from the encoding or key rule, not from the equation.
    fn equation_holds(a_bytes: [u8; 32], msg: &[u8], sig: &Signature) -> bool {
        let (r_bytes, s_bytes) = split(sig);
        let a = CompressedEdwardsY(a_bytes).decompress().expect("A decompresses");
        let r = CompressedEdwardsY(r_bytes).decompress().expect("R decompresses");
        let s = Scalar::from_bytes_mod_order(s_bytes);
        let k = challenge(&r_bytes, &a_bytes, msg);
        (EdwardsPoint::mul_base(&s) - r - a * k).is_small_order()
    }

    fn valid_items() -> Vec<(PublicKey, Vec<u8>, Signature)> {
        (0..4)
            .map(|i| {
                let k = Keypair::from_label(&format!("valid {i}"));
                let m = format!("valid message {i}").into_bytes();
                let s = k.sign(&m);
                (k.public(), m, s)
            })
            .collect()
    }

    /// The one rule: single(x) == batch([x]) == batch([x, x]) == batch([valid, valid, x, valid,
    /// valid]) (the latter accepts iff x is accepted, and `verify_batch_find` names x). Returns
    /// the single-verification result.
    fn one_rule(pk: PublicKey, msg: &[u8], sig: Signature) -> Result<(), SigError> {
        let single = verify(&pk, msg, &sig);
        let x = (pk, msg, sig);
        assert_eq!(verify_batch(&[x]), single);
        assert_eq!(verify_batch(&[x, x]).is_ok(), single.is_ok(), "batch [x, x]");
        let valid = valid_items();
        let mut items: Vec<(PublicKey, &[u8], Signature)> =
            valid.iter().map(|(p, m, s)| (*p, m.as_slice(), *s)).collect();
        items.insert(2, x);
        assert_eq!(verify_batch(&items).is_ok(), single.is_ok(), "batch with valid items");
        assert_eq!(verify_batch_find(&items), single.clone().map_err(|e| (2, e)));
        single
    }

    /// Every non-canonical point encoding that decompresses: y = p + d (d < 19) with either
    /// sign bit, and the "negative zero" sign bit on the two points with x = 0 (y = 1, y = -1).
    fn non_canonical_encodings() -> Vec<[u8; 32]> {
        let mut v = Vec::new();
        for d in 0..19u8 {
            for sign in [0, 0x80] {
                let mut e = FIELD_P;
                e[0] += d;
                e[31] |= sign;
                if CompressedEdwardsY(e).decompress().is_some() {
                    v.push(e);
                }
            }
        }
        let mut one = [0u8; 32];
        one[0] = 1;
        let mut minus_one = FIELD_P;
        minus_one[0] -= 1;
        for mut e in [one, minus_one] {
            e[31] |= 0x80;
            v.push(e);
        }
        for e in &v {
            let p = CompressedEdwardsY(*e).decompress().expect("decompresses");
            assert_ne!(enc(p), *e, "{} is canonical", hex::encode(e));
        }
        v
    }

    #[test]
    fn sign_verify_and_reject_tampering() {
        let k = Keypair::from_label("alice");
        let sig = k.sign(b"hello");
        assert!(verify(&k.public(), b"hello", &sig).is_ok());
        assert_eq!(verify(&k.public(), b"hellp", &sig), Err(SigError::BadSignature));
        let other = Keypair::from_label("bob");
        assert!(verify(&other.public(), b"hello", &sig).is_err());
    }

    /// v1's bug, rebuilt: ed25519-dalek's `verify_strict` (cofactorless) and `verify_batch`
    /// (cofactorless with random-looking coefficients z) disagree on signatures with a torsion
    /// component in R (batch accepts when z kills the torsion point, 1 time in its order) and
    /// on mixed-order keys. The one rule accepts all of them, on both paths.
    #[test]
    fn v1_dalek_single_and_batch_disagree_one_rule_agrees() {
        let a = scalar("attack key");
        let a_point = EdwardsPoint::mul_base(&a);
        let mut torsion_r_disagreements = 0;
        let mut mixed_key_disagreements = 0;
        for (t, torsion) in EIGHT_TORSION.iter().enumerate().skip(1) {
            for n in 0..8 {
                let msg = format!("attack {t} {n}").into_bytes();
                let r = scalar(&format!("attack nonce {t} {n}"));
                let cases = [
                    // R = [r]B + T, A = [a]B.
                    (true, enc(a_point), enc(EdwardsPoint::mul_base(&r) + torsion)),
                    // R = [r]B, A = [a]B + T.
                    (false, enc(a_point + torsion), enc(EdwardsPoint::mul_base(&r))),
                ];
                for (torsion_in_r, a_bytes, r_bytes) in cases {
                    let sig = raw_sign(a, a_bytes, r, r_bytes, &msg);
                    let vk = ed25519_dalek::VerifyingKey::from_bytes(&a_bytes).expect("v1 key");
                    let ds = ed25519_dalek::Signature::from_bytes(&sig.0);
                    let strict = vk.verify_strict(&msg, &ds).is_ok();
                    let batch = ed25519_dalek::verify_batch(&[msg.as_slice()], &[ds], &[vk]).is_ok();
                    if torsion_in_r {
                        assert!(!strict, "verify_strict never accepts a torsion component in R");
                    }
                    if strict != batch {
                        *(if torsion_in_r {
                            &mut torsion_r_disagreements
                        } else {
                            &mut mixed_key_disagreements
                        }) += 1;
                    }
                    assert_eq!(one_rule(PublicKey(a_bytes), &msg, sig), Ok(()));
                }
            }
        }
        assert!(
            torsion_r_disagreements > 0,
            "v1 single and batch agreed on every torsion-R case"
        );
        assert!(
            mixed_key_disagreements > 0,
            "v1 single and batch agreed on every mixed-key case"
        );
    }

    #[test]
    fn one_rule_agreement_table() {
        let msg: &[u8] = b"agreement table";
        let a = scalar("table key");
        let a_point = EdwardsPoint::mul_base(&a);
        let a_bytes = enc(a_point);
        let r = scalar("table nonce");
        let r_point = EdwardsPoint::mul_base(&r);

        // A valid signature (ed25519-dalek signing).
        let kp = Keypair::from_label("table");
        let (pk, good) = (kp.public(), kp.sign(msg));
        assert_eq!(one_rule(pk, msg, good), Ok(()));

        // Torsion in R: R = [r]B + T for each of the 8 torsion points. Accepted.
        for t in EIGHT_TORSION {
            let sig = raw_sign(a, a_bytes, r, enc(r_point + t), msg);
            assert_eq!(one_rule(PublicKey(a_bytes), msg, sig), Ok(()));
        }
        // Small-order R: R = T, s = k·a (reveals a). Accepted.
        for t in EIGHT_TORSION {
            let sig = raw_sign(a, a_bytes, Scalar::ZERO, enc(t), msg);
            assert_eq!(one_rule(PublicKey(a_bytes), msg, sig), Ok(()));
        }
        // Mixed-order key: A = [a]B + T. Accepted.
        for t in &EIGHT_TORSION[1..] {
            let ab = enc(a_point + t);
            let sig = raw_sign(a, ab, r, enc(r_point), msg);
            assert_eq!(one_rule(PublicKey(ab), msg, sig), Ok(()));
        }
        // Small-order keys (all 8): the equation holds for s = r, but the key is rejected.
        for t in EIGHT_TORSION {
            let ab = enc(t);
            let sig = raw_sign(Scalar::ZERO, ab, r, enc(r_point), msg);
            assert!(equation_holds(ab, msg, &sig));
            assert_eq!(one_rule(PublicKey(ab), msg, sig), Err(SigError::BadKey));
        }
        let non_canonical = non_canonical_encodings();
        assert_eq!(non_canonical.len(), 26);
        let mut small = 0;
        for &e in &non_canonical {
            let p = CompressedEdwardsY(e).decompress().expect("decompresses");
            if p.is_small_order() {
                small += 1;
                // Non-canonical small-order A: the equation holds, the key is rejected.
                let sig = raw_sign(Scalar::ZERO, e, r, enc(r_point), msg);
                assert!(equation_holds(e, msg, &sig));
                assert_eq!(one_rule(PublicKey(e), msg, sig), Err(SigError::BadKey));
                // Non-canonical R (of small order, so s = k·a makes the equation hold):
                // rejected, while the canonical encoding of the same point is accepted.
                let sig = raw_sign(a, a_bytes, Scalar::ZERO, e, msg);
                assert!(equation_holds(a_bytes, msg, &sig));
                assert_eq!(one_rule(PublicKey(a_bytes), msg, sig), Err(SigError::Malformed));
                let sig = raw_sign(a, a_bytes, Scalar::ZERO, enc(p), msg);
                assert_eq!(one_rule(PublicKey(a_bytes), msg, sig), Ok(()));
            } else {
                // Large order (discrete log unknown, so no signature can satisfy the
                // equation): still rejected for the encoding alone.
                assert_eq!(one_rule(PublicKey(e), msg, good), Err(SigError::BadKey));
                let mut sig = raw_sign(a, a_bytes, r, enc(r_point), msg);
                sig.0[..32].copy_from_slice(&e);
                assert_eq!(one_rule(PublicKey(a_bytes), msg, sig), Err(SigError::Malformed));
            }
        }
        // y = p (order 4, both signs), y = p + 1 (identity, both signs), and negative zero on
        // the identity and on (0, -1).
        assert_eq!(small, 6);

        // s + l: the same s modulo l, so the equation holds, but s is not canonical.
        let mut sig = good;
        let mut carry = 0u16;
        for (i, l) in ORDER_L.iter().enumerate() {
            let sum = u16::from(sig.0[32 + i]) + u16::from(*l) + carry;
            sig.0[32 + i] = sum as u8;
            carry = sum >> 8;
        }
        assert_eq!(carry, 0);
        assert!(equation_holds(pk.0, msg, &sig));
        assert_eq!(one_rule(pk, msg, sig), Err(SigError::Malformed));

        // Flipped bits in s, in R and in the message: rejected.
        for bit in [0, 1, 77, 200, 251, 252, 255] {
            let mut sig = good;
            sig.0[32 + bit / 8] ^= 1 << (bit % 8);
            assert!(one_rule(pk, msg, sig).is_err(), "s bit {bit}");
        }
        for bit in [0, 1, 77, 200, 254, 255] {
            let mut sig = good;
            sig.0[bit / 8] ^= 1 << (bit % 8);
            assert!(one_rule(pk, msg, sig).is_err(), "R bit {bit}");
        }
        for bit in [0, 9, 8 * msg.len() - 1] {
            let mut m = msg.to_vec();
            m[bit / 8] ^= 1 << (bit % 8);
            assert_eq!(one_rule(pk, &m, good), Err(SigError::BadSignature), "message bit {bit}");
        }
    }

    fn decode_by_recompression(b: &[u8; 32]) -> Option<EdwardsPoint> {
        let p = CompressedEdwardsY(*b).decompress()?;
        (p.compress().0 == *b).then_some(p)
    }

    #[test]
    fn canonical_decoding_is_recompression() {
        let mut candidates = non_canonical_encodings();
        for t in EIGHT_TORSION {
            candidates.push(enc(t));
        }
        for y in [0u8, 1, 2, 3] {
            for sign in [0, 0x80] {
                let mut low = [0u8; 32];
                low[0] = y;
                low[31] = sign;
                let mut high = FIELD_P;
                high[0] -= y + 1;
                high[31] |= sign;
                candidates.extend([low, high]);
            }
        }
        candidates.extend([[0xff; 32], [0x7f; 32], Keypair::from_label("c").public().0]);
        for b in candidates {
            let ours = decode_point(&b).map(enc);
            assert_eq!(ours, decode_by_recompression(&b).map(enc), "{}", hex::encode(b));
            if let Some(e) = ours {
                assert_eq!(e, b);
            }
        }
    }

    #[test]
    fn rfc8032_test_1_signature() {
        // RFC 8032 section 7.1, TEST 1 (empty message).
        let k =
            Keypair::from_seed(hex_array("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60").unwrap());
        assert_eq!(
            hex::encode(k.public().0),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        );
        assert_eq!(
            hex::encode(k.sign(b"").0),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        );
    }

    #[test]
    fn rfc8032_tests_1_to_3_verify() {
        // RFC 8032 section 7.1, TEST 1, 2 and 3: (secret key, public key, message, signature).
        let vectors = [
            (
                "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
                "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
                "",
                "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
            ),
            (
                "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
                "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
                "72",
                "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
            ),
            (
                "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
                "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
                "af82",
                "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
            ),
        ];
        let mut msgs = Vec::new();
        let mut items = Vec::new();
        for (seed, public, msg, sig) in vectors {
            let k = Keypair::from_seed(hex_array(seed).unwrap());
            let pk = PublicKey(hex_array(public).unwrap());
            let sig = Signature(hex_array(sig).unwrap());
            let msg = hex::decode(msg).unwrap();
            assert_eq!(k.public(), pk);
            assert_eq!(k.sign(&msg), sig);
            assert_eq!(one_rule(pk, &msg, sig), Ok(()));
            msgs.push(msg);
            items.push((pk, sig));
        }
        let batch: Vec<_> = items
            .iter()
            .zip(&msgs)
            .map(|((p, s), m)| (*p, m.as_slice(), *s))
            .collect();
        assert_eq!(verify_batch(&batch), Ok(()));
    }

    #[test]
    fn batch_accepts_good_and_names_bad() {
        let keys: Vec<_> = (0..8).map(|i| Keypair::from_label(&format!("k{i}"))).collect();
        let msgs: Vec<Vec<u8>> = (0..8).map(|i| vec![i as u8; 10]).collect();
        let items: Vec<_> = keys
            .iter()
            .zip(&msgs)
            .map(|(k, m)| (k.public(), m.as_slice(), k.sign(m)))
            .collect();
        assert!(verify_batch(&items).is_ok());
        assert_eq!(verify_batch_find(&items), Ok(()));
        for bad in [0, 5, 7] {
            let mut items = items.clone();
            items[bad].2.0[0] ^= 1;
            assert!(verify_batch(&items).is_err());
            assert_eq!(verify_batch_find(&items).unwrap_err().0, bad);
        }
        // A small-order key and a non-canonical s are named with their own error.
        let mut with_bad_key = items.clone();
        with_bad_key[3].0 = PublicKey(enc(EIGHT_TORSION[3]));
        assert_eq!(verify_batch(&with_bad_key), Err(SigError::BadKey));
        assert_eq!(verify_batch_find(&with_bad_key), Err((3, SigError::BadKey)));
        let mut with_bad_s = items.clone();
        with_bad_s[6].2.0[63] |= 0x80;
        assert_eq!(verify_batch(&with_bad_s), Err(SigError::Malformed));
        assert_eq!(verify_batch_find(&with_bad_s), Err((6, SigError::Malformed)));
        // Two wrong signatures whose errors cancel in an unweighted sum: s_0 + d, s_1 - d.
        let mut cancel = items.clone();
        let d = Scalar::from(12345u64);
        for (i, delta) in [(0, d), (1, -d)] {
            let s = Scalar::from_canonical_bytes(split(&cancel[i].2).1).unwrap() + delta;
            cancel[i].2.0[32..].copy_from_slice(&s.to_bytes());
        }
        assert_eq!(verify_batch(&cancel), Err(SigError::BadBatch(8)));
        assert_eq!(verify_batch_find(&cancel), Err((0, SigError::BadSignature)));
    }

    #[test]
    fn batch_coefficients_bind_every_input() {
        let items: Vec<_> = valid_items();
        let as_items = |v: &[(PublicKey, Vec<u8>, Signature)]| -> Vec<Scalar> {
            let items: Vec<(PublicKey, &[u8], Signature)> = v.iter().map(|(p, m, s)| (*p, m.as_slice(), *s)).collect();
            let checked: Vec<_> = items.iter().map(|(p, m, s)| check(p, m, s).unwrap()).collect();
            batch_coefficients(&items, &checked)
        };
        let base = as_items(&items);
        assert_eq!(base, as_items(&items), "deterministic");
        assert!(base.iter().all(|z| z.as_bytes()[16..] == [0; 16]), "128-bit");
        let mut changed = items.clone();
        changed[3].1.push(0);
        assert_ne!(as_items(&changed), base, "message");
        let mut changed = items.clone();
        changed[1].2 = Keypair::from_label("valid 1").sign(b"other");
        assert_ne!(as_items(&changed), base, "signature");
        let mut changed = items.clone();
        changed[2].0 = PublicKey(enc(EdwardsPoint::mul_base(&scalar("k")) + EIGHT_TORSION[1]));
        assert_ne!(as_items(&changed), base, "key");
        let mut changed = items.clone();
        changed.swap(0, 1);
        assert_ne!(as_items(&changed), base, "order");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn single_and_batch_agree(
            t_r in 0..8usize,
            t_a in 0..8usize,
            seed in any::<u64>(),
            msg in proptest::collection::vec(any::<u8>(), 0..40),
            mutation in 0..5u8,
            bit in 0..256usize,
        ) {
            let a = scalar(&format!("prop key {seed}"));
            let r = scalar(&format!("prop nonce {seed}"));
            let mut a_bytes = enc(EdwardsPoint::mul_base(&a) + EIGHT_TORSION[t_a]);
            let r_bytes = enc(EdwardsPoint::mul_base(&r) + EIGHT_TORSION[t_r]);
            let mut sig = raw_sign(a, a_bytes, r, r_bytes, &msg);
            let mut msg = msg;
            match mutation {
                0 => {}
                1 => sig.0[32 + bit / 8] ^= 1 << (bit % 8),
                2 => sig.0[bit / 8] ^= 1 << (bit % 8),
                3 => a_bytes[bit / 8] ^= 1 << (bit % 8),
                _ => msg.push(bit as u8),
            }
            let result = one_rule(PublicKey(a_bytes), &msg, sig);
            prop_assert_eq!(result.is_ok(), mutation == 0);
        }

        #[test]
        fn canonical_decoding_is_recompression_random(b in any::<[u8; 32]>()) {
            prop_assert_eq!(decode_point(&b).map(enc), decode_by_recompression(&b).map(enc));
        }
    }
}
