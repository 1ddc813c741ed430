//! Merkle roots with domain-separated leaves and nodes (RFC 6962 shape: an odd node is promoted).

use crate::codec::{Canon, Hash32, tag};

pub fn leaf(h: &Hash32) -> Hash32 {
    let mut c = Canon::new(tag::MERKLE_LEAF);
    c.h(h);
    c.hash()
}

fn node(l: &Hash32, r: &Hash32) -> Hash32 {
    let mut c = Canon::new(tag::MERKLE_NODE);
    c.h(l).h(r);
    c.hash()
}

/// Root of a list of item hashes; the empty list has the all-zero root.
pub fn root(items: &[Hash32]) -> Hash32 {
    if items.is_empty() {
        return Hash32::ZERO;
    }
    let mut level: Vec<Hash32> = items.iter().map(leaf).collect();
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|p| if p.len() == 2 { node(&p[0], &p[1]) } else { p[0] })
            .collect();
    }
    level[0]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::sha256;

    #[test]
    fn root_depends_on_order_and_content() {
        let a = sha256(b"a");
        let b = sha256(b"b");
        let c = sha256(b"c");
        assert_ne!(root(&[a, b]), root(&[b, a]));
        assert_ne!(root(&[a, b, c]), root(&[a, b]));
        assert_eq!(root(&[a]), leaf(&a));
        assert_eq!(root(&[]), Hash32::ZERO);
        // A leaf can never pose as an inner node.
        assert_ne!(root(&[a, b]), leaf(&node(&leaf(&a), &leaf(&b))));
    }
}
