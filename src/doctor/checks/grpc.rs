//! Family stub.

use super::Ctx;
use crate::catalog::CheckMeta;
use crate::diag::Finding;

pub const CHECKS: &[CheckMeta] = &[];

pub fn run(_ctx: &Ctx<'_>, _out: &mut Vec<Finding>) {}
