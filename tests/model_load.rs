//! Both real test models load: hyperparameters as llama.cpp reads them, every tensor found
//! with the right shape, and step graphs that pass the builder's shape checks.

mod common;

use std::sync::Arc;

use kiln::gguf::GgufFile;
use kiln::graph::{ElemType, Plan};
use kiln::model::{Arch, LoadOptions, Model, Outputs};

fn load(name: &str) -> Option<Model> {
    let path = common::model_path(name)?;
    let file = Arc::new(GgufFile::open(&path).expect("open"));
    Some(Model::load(file, LoadOptions { n_ctx: 256, kv_type: ElemType::F16 }).expect("load"))
}

#[test]
fn smollm2_hyperparameters() {
    let Some(m) = load(common::SMOLLM2) else { return };
    let hp = &m.hp;
    assert_eq!(hp.arch, Arch::Llama);
    assert_eq!(
        (hp.n_layers, hp.dim, hp.hidden_dim, hp.n_heads, hp.n_kv_heads, hp.head_dim),
        (30, 576, 1536, 9, 3, 64)
    );
    assert_eq!((hp.vocab_size, hp.n_rot, hp.rope_base), (49152, 64, 100000.0));
    assert!(!hp.rope_neox);
    assert_eq!(m.output, m.tok_embd, "SmolLM2 ties its output head to the embedding");
    for n in [1, 7] {
        for o in [Outputs::Last, Outputs::All, Outputs::None] {
            let sg = m.build(n, o);
            let _ = Plan::new(&sg.graph);
        }
    }
}

#[test]
fn gemma3_hyperparameters() {
    let Some(m) = load(common::GEMMA3) else { return };
    let hp = &m.hp;
    assert_eq!(hp.arch, Arch::Gemma3);
    assert_eq!(
        (hp.n_layers, hp.dim, hp.hidden_dim, hp.n_heads, hp.n_kv_heads, hp.head_dim),
        (18, 640, 2048, 4, 1, 256)
    );
    assert_eq!(hp.sliding_window, Some(512));
    let global: Vec<usize> = (0..18).filter(|&i| !hp.swa_layers[i]).collect();
    assert_eq!(global, vec![5, 11, 17], "every sixth layer is global");
    assert_eq!((hp.rope_base, hp.rope_base_swa), (1_000_000.0, 10_000.0));
    assert!((hp.embed_scale - 640f32.sqrt()).abs() < 1e-6);
    assert_ne!(
        m.layers[0].rope_table, m.layers[5].rope_table,
        "local and global layers use different tables"
    );
    let sg = m.build(3, Outputs::Last);
    let _ = Plan::new(&sg.graph);
}
