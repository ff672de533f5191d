//! Peak memory while decoding hostile input: a length prefix is a claim, not a budget.
//!
//! Its own test binary, so that the counting allocator sees this test alone.

use cairn_protocol::codec;

#[global_allocator]
static ALLOCATOR: cap::Cap<std::alloc::System> = cap::Cap::new(std::alloc::System, usize::MAX);

/// 32 nested lists, each claiming as many items as the input has bytes left, then zeros: every
/// claim is plausible against the remaining input, and only the innermost holds real items.
fn depth_bomb(size: usize, depth: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size);
    for level in 0..depth {
        let remaining = (size - out.len() - 5 * (depth - level)) as u32;
        out.push(0x9a); // list, 4-byte length
        out.extend_from_slice(&remaining.to_be_bytes());
    }
    out.resize(size, 0x00);
    out
}

#[test]
fn a_depth_bomb_costs_memory_in_proportion_to_what_it_holds() {
    let input = depth_bomb(1 << 20, 32);
    let before = ALLOCATOR.allocated();
    let result = codec::decode(&input);
    assert!(result.is_err(), "the claims cannot all be met");
    let peak = ALLOCATOR.max_allocated().saturating_sub(before);
    // About a million one-byte items really decode (a few dozen bytes each as values); the 31
    // outer claims of a million items each must not be reserved on top.
    assert!(
        peak < 128 << 20,
        "decoding a 1 MiB depth bomb peaked at {} MiB",
        peak >> 20
    );
    eprintln!("peak while decoding the depth bomb: {} MiB", peak >> 20);
}
