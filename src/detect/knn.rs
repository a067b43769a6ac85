//! Exact k-nearest-neighbour search over message vectors, on `kiddo`'s immutable k-d tree.
//!
//! Why kiddo: it was the fastest exact index we measured (100k × 32-d, k = 100: 0.08 s build,
//! 10k queries in 2.5 s; see `../shared/docs/crate-choices.md`), it is maintained, and it has no
//! global side effects. Its dimension is a const generic, so we dispatch over the supported
//! embedding sizes ([`SUPPORTED_DIMS`]); the config rejects any other size with a clear message.

use std::num::NonZeroUsize;

use kiddo::{ImmutableKdTree, SquaredEuclidean};

/// Embedding sizes the index is compiled for.
pub const SUPPORTED_DIMS: [usize; 7] = [8, 16, 25, 32, 50, 64, 100];

/// One neighbour: index into the indexed points and euclidean distance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Neighbour {
    pub index: usize,
    pub distance: f32,
}

macro_rules! index_enum {
    ($($variant:ident = $k:literal),*) => {
        enum Tree { $($variant(Box<ImmutableKdTree<f32, $k>>)),* }

        fn build_tree(dim: usize, points: &[f32]) -> Option<Tree> {
            match dim {
                $($k => {
                    let rows: Vec<[f32; $k]> = points
                        .chunks_exact($k)
                        .map(|c| {
                            let mut row = [0f32; $k];
                            row.copy_from_slice(c);
                            row
                        })
                        .collect();
                    ImmutableKdTree::<f32, $k>::new_from_slice(&rows).ok().map(|t| Tree::$variant(Box::new(t)))
                })*
                _ => None,
            }
        }

        fn query_tree(tree: &Tree, query: &[f32], k: NonZeroUsize) -> Vec<Neighbour> {
            match tree {
                $(Tree::$variant(t) => {
                    let mut q = [0f32; $k];
                    q.copy_from_slice(&query[..$k]);
                    t.query(&q)
                        .nearest_n::<SquaredEuclidean<f32>>(k)
                        .execute()
                        .into_iter()
                        .map(|r| Neighbour { index: r.item as usize, distance: r.distance.max(0.0).sqrt() })
                        .collect()
                })*
            }
        }
    };
}

index_enum!(
    D8 = 8,
    D16 = 16,
    D25 = 25,
    D32 = 32,
    D50 = 50,
    D64 = 64,
    D100 = 100
);

/// An exact kNN index over `n` points of dimension `dim` (row-major).
pub struct KnnIndex {
    dim: usize,
    len: usize,
    tree: Tree,
}

impl std::fmt::Debug for KnnIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KnnIndex")
            .field("dim", &self.dim)
            .field("len", &self.len)
            .finish()
    }
}

impl KnnIndex {
    /// Builds the index. `None` when `dim` is not in [`SUPPORTED_DIMS`], `points` is empty or
    /// not a whole number of rows.
    pub fn build(dim: usize, points: &[f32]) -> Option<Self> {
        if dim == 0 || points.is_empty() || !points.len().is_multiple_of(dim) {
            return None;
        }
        let tree = build_tree(dim, points)?;
        Some(Self {
            dim,
            len: points.len() / dim,
            tree,
        })
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The `k` nearest points to `query` (length `dim`), nearest first.
    pub fn nearest(&self, query: &[f32], k: usize) -> Vec<Neighbour> {
        let k = k.clamp(1, self.len);
        match NonZeroUsize::new(k) {
            Some(k) if query.len() >= self.dim => query_tree(&self.tree, query, k),
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_exact_neighbours_in_order() {
        let dim = 8;
        let mut pts = Vec::new();
        for i in 0..50 {
            let mut row = vec![0f32; dim];
            row[0] = i as f32;
            pts.extend(row);
        }
        let idx = KnnIndex::build(dim, &pts).unwrap();
        let mut q = vec![0f32; dim];
        q[0] = 10.2;
        let nn = idx.nearest(&q, 3);
        assert_eq!(nn.iter().map(|n| n.index).collect::<Vec<_>>(), [10, 11, 9]);
        assert!((nn[0].distance - 0.2).abs() < 1e-5);
        assert!(KnnIndex::build(7, &[0.0; 7]).is_none());
        assert_eq!(idx.nearest(&q, 500).len(), 50);
    }
}
