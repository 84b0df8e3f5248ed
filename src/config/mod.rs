//! Flags to validated settings: the command line (`cli`, clap) and the plain, validated
//! `Settings` every other layer reads (parse, don't validate later).

pub mod allow_file;
pub mod cli;
pub mod settings;
