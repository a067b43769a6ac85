//! Embeddings: word vectors trained on a host's messages, and message vectors built from them.

pub mod vectors;
pub mod word2vec;

pub use vectors::{VectorsError, WordVectors};
pub use word2vec::Word2VecParams;
