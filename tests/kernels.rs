//! Every kernel on every backend (CPU, and wgpu in each capability tier) against kernels-ref.

mod common;

#[path = "kernels/argmax.rs"]
mod argmax;
#[path = "kernels/attention.rs"]
mod attention;
#[path = "kernels/attention_prefill.rs"]
mod attention_prefill;
#[path = "kernels/elementwise.rs"]
mod elementwise;
#[path = "kernels/embed.rs"]
mod embed;
#[path = "kernels/glu.rs"]
mod glu;
#[path = "kernels/matmul.rs"]
mod matmul;
#[path = "kernels/matmul_glu.rs"]
mod matmul_glu;
#[path = "kernels/norm.rs"]
mod norm;
#[path = "kernels/rope.rs"]
mod rope;
#[path = "kernels/rope_qkv.rs"]
mod rope_qkv;
#[path = "kernels/softmax.rs"]
mod softmax;
