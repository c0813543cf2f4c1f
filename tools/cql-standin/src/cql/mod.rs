//! CQL text: tokens, statements, parser.

pub mod ast;
pub mod lexer;
pub mod parser;

pub use parser::{parse, split_script};
