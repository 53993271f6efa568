//! The allocator the `kgqa` binary (and its benches) run on: mimalloc, except for memory
//! that C code allocated with the system `malloc` and handed to Rust to free.
//!
//! mimalloc instead of glibc's malloc: training and inference allocate and free tensors of
//! tens of megabytes per step, which glibc serves with a fresh `mmap` each time (page
//! faults to zero every page, TLB shootdowns across threads on `munmap`); in a profile of a
//! distillation run those kernel paths took more time than the matrix products.
//!
//! But some C memory reaches Rust's allocator: oxigraph turns RocksDB's error messages
//! (`strdup`ed by RocksDB's C API, i.e. the system `malloc`) into `CString`s with
//! `CString::from_raw`, so dropping any RocksDB error frees a system-`malloc` pointer
//! through the global allocator. Plain mimalloc crashes there (a damaged store made the
//! process die with SIGSEGV instead of reporting it). [`Allocator`] asks mimalloc whether
//! a pointer is its own (`mi_is_in_heap_region`, a lookup in its segment map) and gives
//! the others to the system `free`.

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

use mimalloc::MiMalloc;

/// mimalloc, with foreign (system `malloc`) pointers freed by the system `free`.
pub struct Allocator;

#[allow(unsafe_code)]
unsafe extern "C" {
    /// The C library's `free` (mimalloc is linked without overriding it).
    fn free(p: *mut c_void);
}

#[allow(unsafe_code)]
fn is_mimalloc(ptr: *mut u8) -> bool {
    // SAFETY: `mi_is_in_heap_region` only compares the address with mimalloc's segment
    // map; it does not dereference `ptr`.
    unsafe { libmimalloc_sys::mi_is_in_heap_region(ptr.cast()) }
}

// SAFETY: every block is allocated by mimalloc and freed by it, except blocks mimalloc does
// not own, which can only come from the system `malloc` (C code) and go back to it.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is `GlobalAlloc::alloc`'s, passed on unchanged.
        unsafe { MiMalloc.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as `alloc`.
        unsafe { MiMalloc.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if is_mimalloc(ptr) {
            // SAFETY: `ptr` is a live mimalloc block of `layout` (the caller's contract).
            unsafe { MiMalloc.dealloc(ptr, layout) }
        } else {
            // SAFETY: not mimalloc's, so a live block of the system `malloc`.
            unsafe { free(ptr.cast()) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if is_mimalloc(ptr) {
            // SAFETY: as `dealloc`, with `new_size` valid for `layout.align()`.
            return unsafe { MiMalloc.realloc(ptr, layout, new_size) };
        }
        // SAFETY: `new_size` with `layout.align()` is a valid layout (the caller's
        // contract); the old block holds at least `layout.size()` bytes.
        unsafe {
            let new = MiMalloc.alloc(Layout::from_size_align_unchecked(new_size, layout.align()));
            if !new.is_null() {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                free(ptr.cast());
            }
            new
        }
    }
}

#[cfg(test)]
#[allow(unsafe_code)]
mod tests {
    use super::*;

    unsafe extern "C" {
        fn strdup(s: *const std::ffi::c_char) -> *mut std::ffi::c_char;
    }

    /// A C string from the system `malloc`, freed through the allocator as
    /// `CString::from_raw` + drop does, and mimalloc's own blocks round-trip.
    #[test]
    fn system_malloc_blocks_go_back_to_the_system() {
        let a = Allocator;
        // SAFETY: strdup copies a NUL-terminated literal; the block is freed once, below.
        let foreign = unsafe { strdup(c"IO error: corruption".as_ptr()) };
        assert!(!foreign.is_null());
        assert!(!is_mimalloc(foreign.cast()));
        // SAFETY: a live system block of at least 21 bytes, freed once.
        unsafe { a.dealloc(foreign.cast(), Layout::from_size_align(21, 1).unwrap()) };
        // SAFETY: a fresh system block, grown through the allocator (copied and freed).
        let grown = unsafe {
            let p = strdup(c"abc".as_ptr());
            a.realloc(p.cast(), Layout::from_size_align(4, 1).unwrap(), 64)
        };
        assert!(is_mimalloc(grown));
        // SAFETY: the bytes copied from the old block, then the mimalloc block freed.
        unsafe {
            assert_eq!(std::slice::from_raw_parts(grown, 4), b"abc\0");
            a.dealloc(grown, Layout::from_size_align(64, 1).unwrap());
        }
        for size in [8, 4096, 1 << 22] {
            let layout = Layout::from_size_align(size, 16).unwrap();
            // SAFETY: a fresh block of `layout`, written within it and freed once.
            unsafe {
                let p = a.alloc(layout);
                assert!(is_mimalloc(p));
                p.write_bytes(7, size);
                a.dealloc(p, layout);
            }
        }
    }
}
