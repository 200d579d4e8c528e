//! The fuzzer's global allocator: the system allocator, refusing any single allocation
//! over [`MAX_ALLOCATION`]. A target that asks for one has trusted a size from its input;
//! the process then writes that input to the file named by [`set_crash_file`] and exits
//! with status [`OVERSIZED_EXIT`] (an allocator cannot unwind, and must not allocate).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI32, AtomicPtr, AtomicUsize, Ordering};

/// The largest single allocation an input may cause: 1 GiB.
pub const MAX_ALLOCATION: usize = 1 << 30;
/// Exit status after an oversized allocation.
pub const OVERSIZED_EXIT: i32 = 70;

static INPUT: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());
static INPUT_LEN: AtomicUsize = AtomicUsize::new(0);
static CRASH_FD: AtomicI32 = AtomicI32::new(-1);
static LARGEST: AtomicUsize = AtomicUsize::new(0);

/// The allocator of the `edgenas-fuzz` binary.
pub struct LimitedAllocator;

// SAFETY: every method forwards to `System`, which upholds the `GlobalAlloc` contract; the
// only addition is a size check before it, and a process exit that never returns.
unsafe impl GlobalAlloc for LimitedAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        check(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// The largest single allocation seen so far.
pub fn largest_allocation() -> usize {
    LARGEST.load(Ordering::Relaxed)
}

fn check(size: usize) {
    LARGEST.fetch_max(size, Ordering::Relaxed);
    if size > MAX_ALLOCATION {
        oversized(size);
    }
}

/// Records `input` as the one being executed (kept alive by the caller until the next call).
pub fn set_current_input(input: &[u8]) {
    INPUT.store(input.as_ptr().cast_mut(), Ordering::Relaxed);
    INPUT_LEN.store(input.len(), Ordering::Relaxed);
}

/// Opens `path` for the input of an oversized allocation (unix only).
pub fn set_crash_file(path: &std::path::Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::io::IntoRawFd;
        let file = std::fs::File::create(path)?;
        CRASH_FD.store(file.into_raw_fd(), Ordering::Relaxed);
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[cfg(unix)]
fn oversized(size: usize) -> ! {
    let fd = CRASH_FD.load(Ordering::Relaxed);
    let (ptr, len) = (INPUT.load(Ordering::Relaxed), INPUT_LEN.load(Ordering::Relaxed));
    let message = b"edgenas-fuzz: an input asked for a single allocation over 1 GiB; it is in the crash file\n";
    // SAFETY: write(2) and _exit(2) are async-signal-safe and allocate nothing; `ptr` and
    // `len` describe the input the fuzz loop keeps alive while the target runs.
    unsafe {
        if fd >= 0 && !ptr.is_null() {
            libc::write(fd, ptr.cast(), len);
        }
        libc::write(2, message.as_ptr().cast(), message.len());
        let _ = size;
        libc::_exit(OVERSIZED_EXIT)
    }
}

#[cfg(not(unix))]
fn oversized(_: usize) -> ! {
    std::process::abort()
}
