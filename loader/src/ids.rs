//! Identifiers: blocks of explicitly allocated row ids, and the customer id
//! derived from a contact id.
//!
//! `customer_id` must stay unique across appended runs with different seeds,
//! so it is a function of the contact id alone (never of the seed): a fixed,
//! keyed permutation of the 48-bit id space. Distinct ids give distinct
//! customer ids by construction, and sequential ids still look random.

/// Contact ids must fit the 48 bits that `CUST-` + 12 hex digits can hold.
pub const MAX_CONTACT_ID: i64 = (1 << 48) - 1;

const HALF_BITS: u32 = 24;
const HALF_MASK: u64 = (1 << HALF_BITS) - 1;

/// Round keys of the Feistel network. Part of the data contract: changing
/// them would let new customer ids collide with those already loaded.
const ROUND_KEYS: [u64; 4] =
    [0x9E37_79B9_7F4A_7C15, 0xBF58_476D_1CE4_E5B9, 0x94D0_49BB_1331_11EB, 0xD6E8_FEB8_6659_FD93];

/// SplitMix64's finaliser: a cheap, well-mixing 64-bit hash.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A permutation of 0..2^48: a balanced Feistel network over two 24-bit
/// halves is a bijection whatever its round function.
fn permute48(x: u64) -> u64 {
    let (mut left, mut right) = ((x >> HALF_BITS) & HALF_MASK, x & HALF_MASK);
    for key in ROUND_KEYS {
        let next = left ^ (mix(right ^ key) & HALF_MASK);
        left = right;
        right = next;
    }
    (left << HALF_BITS) | right
}

/// `CUST-` followed by 12 upper-case hex digits, unique per contact id in
/// 1..=[`MAX_CONTACT_ID`] (larger ids are refused when they are allocated).
pub fn customer_id(contact_id: i64) -> String {
    let bits = contact_id as u64 & ((1 << 48) - 1);
    format!("CUST-{:012X}", permute48(bits))
}

/// A run of consecutive ids, `first..first + len`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdBlock {
    pub first: i64,
    pub len: u64,
}

impl IdBlock {
    pub fn new(first: i64, len: u64) -> Self {
        IdBlock { first, len }
    }

    /// The last id of a non-empty block.
    pub fn last(&self) -> i64 {
        self.first + self.len as i64 - 1
    }

    pub fn ids(&self) -> impl Iterator<Item = i64> {
        self.first..self.first + self.len as i64
    }

    /// Consecutive sub-blocks of at most `size` ids (size ≥ 1), in order.
    pub fn chunks(&self, size: u64) -> impl Iterator<Item = IdBlock> {
        let block = *self;
        let size = size.max(1);
        (0..block.len.div_ceil(size)).map(move |i| {
            let offset = i * size;
            IdBlock::new(block.first + offset as i64, size.min(block.len - offset))
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    /// The inverse network: proves the permutation is a bijection.
    fn unpermute48(y: u64) -> u64 {
        let (mut left, mut right) = ((y >> HALF_BITS) & HALF_MASK, y & HALF_MASK);
        for key in ROUND_KEYS.iter().rev() {
            let previous = right ^ (mix(left ^ key) & HALF_MASK);
            right = left;
            left = previous;
        }
        (left << HALF_BITS) | right
    }

    #[test]
    fn customer_ids_have_the_contract_format() {
        for id in [1, 2, 3_000_000, MAX_CONTACT_ID] {
            let c = customer_id(id);
            assert_eq!(c.len(), 17, "{c}");
            assert!(c.starts_with("CUST-"));
            assert!(c[5..].chars().all(|ch| ch.is_ascii_digit() || ('A'..='F').contains(&ch)), "{c}");
        }
    }

    #[test]
    fn the_permutation_is_invertible() {
        for x in (0..1 << 48).step_by(1_234_567_891).chain([0, 1, (1 << 48) - 1]) {
            let y = permute48(x);
            assert!(y < 1 << 48);
            assert_eq!(unpermute48(y), x);
        }
    }

    #[test]
    fn consecutive_ids_get_distinct_scattered_customer_ids() {
        let ids: HashSet<String> = (1..=200_000).map(customer_id).collect();
        assert_eq!(ids.len(), 200_000);
        // Sequential ids must not give sequential customer ids.
        assert_ne!(&customer_id(1)[..10], &customer_id(2)[..10]);
    }

    #[test]
    fn blocks_split_into_ordered_chunks() {
        let block = IdBlock::new(11, 25);
        let chunks: Vec<_> = block.chunks(10).collect();
        assert_eq!(chunks, [IdBlock::new(11, 10), IdBlock::new(21, 10), IdBlock::new(31, 5)]);
        assert_eq!(block.last(), 35);
        assert_eq!(block.ids().collect::<Vec<_>>().len(), 25);
        assert_eq!(IdBlock::new(1, 0).chunks(10).count(), 0);
    }
}
