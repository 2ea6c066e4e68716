//! The engines of `unitctl migrate`: what copies between two MySQL servers
//! ([`mysql`]) and between two PostgreSQL databases ([`postgres`]), each under the
//! one supervision loop of [`crate::drive`].

pub(crate) mod mysql;
pub(crate) mod postgres;
