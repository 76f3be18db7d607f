//! Every kernel on every backend (CPU, and wgpu in each capability tier) against kernels-ref.

mod common;

#[path = "kernels/attention.rs"]
mod attention;
#[path = "kernels/elementwise.rs"]
mod elementwise;
#[path = "kernels/norm.rs"]
mod norm;
#[path = "kernels/rope.rs"]
mod rope;
