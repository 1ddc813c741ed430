//! ECVRF-EDWARDS25519-SHA512-TAI (RFC 9381, suite 0x03), built on curve25519-dalek.
//!
//! Why not a VRF crate: the one RFC 9381 crate for edwards25519 (vrf-rfc9381 0.0.x) depends on
//! pre-release curve and hash crates. All curve arithmetic here is curve25519-dalek's; this
//! file only composes the RFC's hashing steps, and is pinned by the RFC's Appendix B.3 vectors.

use crate::crypto::Keypair;
use curve25519_dalek::{EdwardsPoint, Scalar, edwards::CompressedEdwardsY};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha512};

const SUITE: u8 = 0x03;
pub const PROOF_LEN: usize = 80;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VrfError {
    #[error("VRF public key is not a valid point or has small order")]
    BadKey,
    #[error("VRF proof is malformed (gamma not a canonical point, or s not reduced)")]
    Malformed,
    #[error("VRF proof does not verify")]
    Invalid,
    #[error("encode_to_curve found no point in 256 tries")]
    NoPoint,
}

/// An 80-byte proof `Gamma || c (16) || s (32)`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct VrfProof(pub [u8; PROOF_LEN]);

impl Default for VrfProof {
    fn default() -> Self {
        VrfProof([0; PROOF_LEN])
    }
}

impl std::fmt::Debug for VrfProof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "vrf:{}", hex::encode(&self.0[..4]))
    }
}

impl Serialize for VrfProof {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(self.0))
    }
}
impl<'de> Deserialize<'de> for VrfProof {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(VrfProof(
            crate::codec::hex_array::<PROOF_LEN>(&s).map_err(serde::de::Error::custom)?,
        ))
    }
}

/// RFC 8032 decoding that also rejects non-canonical encodings (RFC 9381 section 5.5).
fn string_to_point(b: &[u8; 32]) -> Option<EdwardsPoint> {
    let p = CompressedEdwardsY(*b).decompress()?;
    (p.compress().0 == *b).then_some(p)
}

/// Section 5.4.1.1, try-and-increment, with the public key as salt.
pub fn encode_to_curve(pk: &[u8; 32], alpha: &[u8]) -> Result<EdwardsPoint, VrfError> {
    for ctr in 0u8..=255 {
        let mut h = Sha512::new();
        h.update([SUITE, 0x01]);
        h.update(pk);
        h.update(alpha);
        h.update([ctr, 0x00]);
        let out = h.finalize();
        let cand: [u8; 32] = out[..32].try_into().expect("32 bytes");
        if let Some(p) = string_to_point(&cand) {
            return Ok(p.mul_by_cofactor());
        }
    }
    Err(VrfError::NoPoint)
}

/// Section 5.4.3: the 16-byte challenge as a scalar.
fn challenge(points: [&EdwardsPoint; 5]) -> [u8; 16] {
    let mut h = Sha512::new();
    h.update([SUITE, 0x02]);
    for p in points {
        h.update(p.compress().0);
    }
    h.update([0x00]);
    h.finalize()[..16].try_into().expect("16 bytes")
}

fn c_scalar(c: &[u8; 16]) -> Scalar {
    let mut b = [0u8; 32];
    b[..16].copy_from_slice(c);
    Scalar::from_bytes_mod_order(b)
}

/// Section 5.2: `beta = SHA-512(suite || 0x03 || 8*Gamma || 0x00)`.
fn gamma_to_hash(gamma: &EdwardsPoint) -> [u8; 64] {
    let mut h = Sha512::new();
    h.update([SUITE, 0x03]);
    h.update(gamma.mul_by_cofactor().compress().0);
    h.update([0x00]);
    h.finalize().into()
}

/// Proves `alpha` with the Ed25519 key `key`; returns `(beta, pi)`.
pub fn prove(key: &Keypair, alpha: &[u8]) -> ([u8; 64], VrfProof) {
    let seed = key.seed();
    let hs: [u8; 64] = Sha512::digest(seed).into();
    let mut xb: [u8; 32] = hs[..32].try_into().expect("32 bytes");
    xb[0] &= 248;
    xb[31] &= 127;
    xb[31] |= 64;
    // Clamped secret; reduction mod l does not change x*P for points in the prime-order subgroup.
    let x = Scalar::from_bytes_mod_order(xb);
    let y = EdwardsPoint::mul_base(&x);
    let pk = key.public().0;
    let h = encode_to_curve(&pk, alpha).expect("encode_to_curve fails with probability 2^-256");
    let gamma = h * x;
    // Section 5.4.2.2 nonce: SHA-512(second half of SHA-512(sk) || point_to_string(H)).
    let mut nh = Sha512::new();
    nh.update(&hs[32..]);
    nh.update(h.compress().0);
    let k = Scalar::from_bytes_mod_order_wide(&nh.finalize().into());
    let c = challenge([&y, &h, &gamma, &EdwardsPoint::mul_base(&k), &(h * k)]);
    let s = k + c_scalar(&c) * x;
    let mut pi = [0u8; PROOF_LEN];
    pi[..32].copy_from_slice(&gamma.compress().0);
    pi[32..48].copy_from_slice(&c);
    pi[48..].copy_from_slice(s.as_bytes());
    (gamma_to_hash(&gamma), VrfProof(pi))
}

/// Verifies `pi` for `alpha` under `pk` and returns `beta` (section 5.3, with key validation).
pub fn verify(pk: &[u8; 32], alpha: &[u8], pi: &VrfProof) -> Result<[u8; 64], VrfError> {
    let y = string_to_point(pk).ok_or(VrfError::BadKey)?;
    if y.is_small_order() {
        return Err(VrfError::BadKey);
    }
    let gamma = string_to_point(pi.0[..32].try_into().expect("32")).ok_or(VrfError::Malformed)?;
    let c: [u8; 16] = pi.0[32..48].try_into().expect("16");
    let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(pi.0[48..].try_into().expect("32")))
        .ok_or(VrfError::Malformed)?;
    let h = encode_to_curve(pk, alpha)?;
    let cs = c_scalar(&c);
    let u = EdwardsPoint::vartime_double_scalar_mul_basepoint(&(-cs), &y, &s);
    let v = h * s - gamma * cs;
    if challenge([&y, &h, &gamma, &u, &v]) != c {
        return Err(VrfError::Invalid);
    }
    Ok(gamma_to_hash(&gamma))
}

/// The proof's output without verifying it (for callers that already verified it).
pub fn proof_to_hash(pi: &VrfProof) -> Result<[u8; 64], VrfError> {
    let gamma = string_to_point(pi.0[..32].try_into().expect("32")).ok_or(VrfError::Malformed)?;
    Ok(gamma_to_hash(&gamma))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::hex_array;

    /// RFC 9381 Appendix B.3 (ECVRF-EDWARDS25519-SHA512-TAI): (SK, PK, alpha, H, pi, beta).
    const B3: [(&str, &str, &str, &str, &str, &str); 3] = [
        (
            "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            "",
            "91bbed02a99461df1ad4c6564a5f5d829d0b90cfc7903e7a5797bd658abf3318",
            "8657106690b5526245a92b003bb079ccd1a92130477671f6fc01ad16f26f723f26f8a57ccaed74ee1b190bed1f479d9727d2d0f9b005a6e456a35d4fb0daab1268a1b0db10836d9826a528ca76567805",
            "90cf1df3b703cce59e2a35b925d411164068269d7b2d29f3301c03dd757876ff66b71dda49d2de59d03450451af026798e8f81cd2e333de5cdf4f3e140fdd8ae",
        ),
        (
            "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
            "72",
            "5b659fc3d4e9263fd9a4ed1d022d75eaacc20df5e09f9ea937502396598dc551",
            "f3141cd382dc42909d19ec5110469e4feae18300e94f304590abdced48aed5933bf0864a62558b3ed7f2fea45c92a465301b3bbf5e3e54ddf2d935be3b67926da3ef39226bbc355bdc9850112c8f4b02",
            "eb4440665d3891d668e7e0fcaf587f1b4bd7fbfe99d0eb2211ccec90496310eb5e33821bc613efb94db5e5b54c70a848a0bef4553a41befc57663b56373a5031",
        ),
        (
            "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
            "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
            "af82",
            "bf4339376f5542811de615e3313d2b36f6f53c0acfebb482159711201192576a",
            "9bc0f79119cc5604bf02d23b4caede71393cedfbb191434dd016d30177ccbf8096bb474e53895c362d8628ee9f9ea3c0e52c7a5c691b6c18c9979866568add7a2d41b00b05081ed0f58ee5e31b3a970e",
            "645427e5d00c62a23fb703732fa5d892940935942101e456ecca7bb217c61c452118fec1219202a0edcf038bb6373241578be7217ba85a2687f7a0310b2df19f",
        ),
    ];

    #[test]
    fn rfc9381_b3_vectors_prove_and_verify() {
        for (sk, pk, alpha, h, pi, beta) in B3 {
            let key = Keypair::from_seed(hex_array(sk).unwrap());
            assert_eq!(hex::encode(key.public().0), pk);
            let alpha = hex::decode(alpha).unwrap();
            let pkb: [u8; 32] = hex_array(pk).unwrap();
            assert_eq!(hex::encode(encode_to_curve(&pkb, &alpha).unwrap().compress().0), h);
            let (b, p) = prove(&key, &alpha);
            assert_eq!(hex::encode(p.0), pi, "pi");
            assert_eq!(hex::encode(b), beta, "beta");
            let out = verify(&pkb, &alpha, &VrfProof(hex_array(pi).unwrap())).unwrap();
            assert_eq!(hex::encode(out), beta);
        }
    }

    #[test]
    fn tampered_proofs_and_wrong_inputs_fail() {
        let (_, pk, alpha, _, pi, _) = B3[1];
        let pkb: [u8; 32] = hex_array(pk).unwrap();
        let alpha = hex::decode(alpha).unwrap();
        let pi: [u8; 80] = hex_array(pi).unwrap();
        assert!(verify(&pkb, b"other", &VrfProof(pi)).is_err());
        for i in 0..PROOF_LEN {
            let mut bad = pi;
            bad[i] ^= 1;
            assert!(verify(&pkb, &alpha, &VrfProof(bad)).is_err(), "byte {i}");
        }
        let other: [u8; 32] = hex_array(B3[0].1).unwrap();
        assert_eq!(verify(&other, &alpha, &VrfProof(pi)), Err(VrfError::Invalid));
        // The identity is a small-order key.
        let mut ident = [0u8; 32];
        ident[0] = 1;
        assert_eq!(verify(&ident, &alpha, &VrfProof(pi)), Err(VrfError::BadKey));
    }
}
