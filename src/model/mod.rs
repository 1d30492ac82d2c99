//! The object model: the Kubernetes objects lastmile reads, reduced to what matters for
//! backend TLS, with their status blocks.

pub mod backend;
pub mod extension;
pub mod gateway;
pub mod meta;
pub mod policy;
pub mod route;
pub mod trust;

pub use backend::*;
pub use extension::*;
pub use gateway::*;
pub use meta::*;
pub use policy::*;
pub use route::*;
pub use trust::*;
