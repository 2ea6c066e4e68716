//! The catalog layer: what a MySQL server holds and where its binlog stands, read
//! through the adapter: selected tables with their columns, keys and definitions
//! (`schema`), the other objects (`objects`), collations one server kind lacks
//! (`collation`), binlog positions, GTID sets and the
//! replication checkpoint (`position`). It knows no unit (a tidy test holds that).

pub(crate) mod collation;
pub(crate) mod objects;
pub(crate) mod position;
pub(crate) mod schema;
pub(crate) mod xa;
