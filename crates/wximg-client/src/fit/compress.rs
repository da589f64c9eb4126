//! The one-pass JPEG encode of a big picture: the encoder of [`super::jpeg`] (mozjpeg's
//! fastest profile, N. Robidoux's tables, baseline), but with Huffman tables given
//! ([`Tables`], counted from the picture's parts) instead of optimised in a second pass.
//!
//! Invariant: nothing here holds more of the picture than libjpeg's strip buffers (a few
//! rows of blocks) besides the output, so an encode's memory does not grow with the
//! picture; and every exit — success, a libjpeg error, a panic — releases libjpeg's state.
//!
//! This talks to `mozjpeg-sys` directly because the `mozjpeg` crate has no way to set
//! Huffman tables. The output goes into a `Vec` through a destination manager of our own:
//! libjpeg's `jpeg_mem_dest` keeps its current buffer private until the end, so after an
//! error it cannot be freed safely.

use std::os::raw::c_int;

use mozjpeg_sys::{
    J_COLOR_SPACE, J_INT_PARAM, JINT_COMPRESS_PROFILE_VALUE, boolean, jpeg_compress_struct,
    jpeg_destination_mgr, jpeg_error_mgr,
};

use super::huffman::{Table, Tables};
use super::jpeg::Chroma;
use crate::error::{Error, Result};

/// What to encode: `data` is `width × height` pixels, RGB (3 bytes each) or grey (1).
pub struct Frame<'a> {
    pub data: &'a [u8],
    pub width: u32,
    pub height: u32,
    pub grey: bool,
}

/// Rows handed to libjpeg per call: one 4:2:0 block row.
const ROWS_PER_CALL: usize = 16;

/// Encodes `frame` at `quality` (fractional: the quantisation tables are scaled
/// continuously) with `chroma` and the given Huffman tables.
pub fn encode(frame: &Frame<'_>, quality: f32, chroma: Chroma, tables: &Tables) -> Result<Vec<u8>> {
    let channels = if frame.grey { 1 } else { 3 };
    let row = frame.width as usize * channels;
    if frame.width == 0 || frame.height == 0 || frame.data.len() != row * frame.height as usize {
        return Err(Error::Fit(
            "the JPEG encoder was given a malformed picture".into(),
        ));
    }
    // libjpeg reports errors by unwinding (see decode.rs's error manager); the guard's
    // Drop releases its state on every way out.
    let run = || -> Vec<u8> {
        let mut job = Job::new();
        job.encode(frame, row, quality, chroma, tables)
    };
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)).map_err(|payload| {
        let why = payload
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_else(|| "libjpeg failed".into());
        Error::Fit(format!("the JPEG encoder failed: {why}"))
    })
}

/// libjpeg's compressor with its error manager and our destination, boxed so the
/// pointers libjpeg keeps between them stay valid.
struct Job {
    cinfo: jpeg_compress_struct,
    err: jpeg_error_mgr,
    dest: VecDest,
}

/// A libjpeg destination that appends to a `Vec`. `iface` must come first: libjpeg
/// passes `cinfo.dest` back, and the callbacks cast it to this struct.
#[repr(C)]
struct VecDest {
    iface: jpeg_destination_mgr,
    out: Vec<u8>,
    /// Bytes handed to libjpeg at `next_output_byte` by the last call.
    window: usize,
}

/// How much more room the output gets each time libjpeg fills it.
const OUT_CHUNK: usize = 256 << 10;

impl Job {
    fn new() -> Box<Job> {
        // SAFETY: both are plain C structs for which all-zero is a valid value before
        // jpeg_std_error / jpeg_create_compress fill them in, which they do here, with the
        // error manager set up first as libjpeg requires.
        let mut job = Box::new(Job {
            cinfo: unsafe { std::mem::zeroed() },
            err: super::decode::strict_error_mgr(),
            dest: VecDest {
                iface: unsafe { std::mem::zeroed() },
                out: Vec::new(),
                window: 0,
            },
        });
        job.cinfo.common.err = &mut job.err;
        unsafe { mozjpeg_sys::jpeg_create_compress(&mut job.cinfo) };
        job.dest.iface.init_destination = Some(init_destination);
        job.dest.iface.empty_output_buffer = Some(empty_output_buffer);
        job.dest.iface.term_destination = Some(term_destination);
        job.cinfo.dest = &mut job.dest.iface;
        job
    }

    fn encode(
        &mut self,
        frame: &Frame<'_>,
        row: usize,
        quality: f32,
        chroma: Chroma,
        tables: &Tables,
    ) -> Vec<u8> {
        let c = &mut self.cinfo;
        let (space, components) = if frame.grey {
            (J_COLOR_SPACE::JCS_GRAYSCALE, 1)
        } else {
            (J_COLOR_SPACE::JCS_RGB, 3)
        };
        c.in_color_space = space;
        c.input_components = components;
        c.image_width = frame.width;
        c.image_height = frame.height;
        let q = quality.clamp(1.0, 100.0);
        let table = mozjpeg::qtable::NRobidoux.scaled(q, q);
        // SAFETY: cinfo was created by jpeg_create_compress and is in its start state;
        // these are the calls mozjpeg's own wrapper makes, in its order. comp_info points
        // at `num_components` entries after jpeg_set_defaults, and the Huffman table
        // pointers it sets are libjpeg-allocated tables we may overwrite.
        unsafe {
            mozjpeg_sys::jpeg_c_set_int_param(
                c,
                J_INT_PARAM::JINT_COMPRESS_PROFILE,
                JINT_COMPRESS_PROFILE_VALUE::JCP_FASTEST as c_int,
            );
            mozjpeg_sys::jpeg_set_defaults(c);
            c.optimize_coding = 0;
            mozjpeg_sys::jpeg_add_quant_table(c, 0, table.as_ptr(), 100, 1);
            mozjpeg_sys::jpeg_add_quant_table(c, 1, table.as_ptr(), 100, 1);
            let comps = std::slice::from_raw_parts_mut(c.comp_info, c.num_components as usize);
            let luma = if matches!(chroma, Chroma::Half) && !frame.grey {
                2
            } else {
                1
            };
            for (k, comp) in comps.iter_mut().enumerate() {
                let f = if k == 0 { luma } else { 1 };
                comp.h_samp_factor = f;
                comp.v_samp_factor = f;
            }
            for slot in 0..2 {
                set(c.dc_huff_tbl_ptrs[slot], &tables.dc[slot]);
                set(c.ac_huff_tbl_ptrs[slot], &tables.ac[slot]);
            }
            mozjpeg_sys::jpeg_start_compress(c, 1);
            let mut rows: Vec<*const u8> = Vec::with_capacity(ROWS_PER_CALL);
            while c.next_scanline < c.image_height {
                let first = c.next_scanline as usize;
                let n = ROWS_PER_CALL.min(frame.height as usize - first);
                rows.clear();
                rows.extend((first..first + n).map(|r| frame.data[r * row..].as_ptr()));
                mozjpeg_sys::jpeg_write_scanlines(c, rows.as_ptr(), n as u32);
            }
            mozjpeg_sys::jpeg_finish_compress(c);
        }
        std::mem::take(&mut self.dest.out)
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        // SAFETY: cinfo was created in Job::new; destroying it frees libjpeg's memory,
        // whatever state an error left it in.
        unsafe { mozjpeg_sys::jpeg_destroy_compress(&mut self.cinfo) };
    }
}

/// Copies `t` into a libjpeg table (allocated by jpeg_set_defaults).
///
/// # Safety
/// `ptr` is null or points at a live `JHUFF_TBL`.
unsafe fn set(ptr: *mut mozjpeg_sys::JHUFF_TBL, t: &Table) {
    // SAFETY: the caller's promise.
    let Some(tbl) = (unsafe { ptr.as_mut() }) else {
        return;
    };
    tbl.bits = t.bits;
    tbl.huffval = [0; 256];
    tbl.huffval[..t.values.len()].copy_from_slice(&t.values);
}

/// The destination of `cinfo`.
///
/// # Safety
/// `cinfo.dest` was set by [`Job::new`] to the `iface` of a live [`VecDest`].
unsafe fn dest(cinfo: &mut jpeg_compress_struct) -> &mut VecDest {
    // SAFETY: iface is VecDest's first field (repr(C)), so the pointers are the same.
    unsafe { &mut *cinfo.dest.cast::<VecDest>() }
}

/// Hands libjpeg the spare capacity of the output (growing it by [`OUT_CHUNK`]).
fn hand_out(d: &mut VecDest) {
    d.out.reserve(OUT_CHUNK);
    let len = d.out.len();
    d.window = d.out.capacity() - len;
    // SAFETY: `len` is within the allocation; libjpeg writes at most `window` bytes
    // from here, all inside the reserved capacity.
    d.iface.next_output_byte = unsafe { d.out.as_mut_ptr().add(len) };
    d.iface.free_in_buffer = d.window;
}

unsafe extern "C-unwind" fn init_destination(cinfo: &mut jpeg_compress_struct) {
    // SAFETY: see `dest`.
    let d = unsafe { dest(cinfo) };
    d.out.clear();
    hand_out(d);
}

unsafe extern "C-unwind" fn empty_output_buffer(cinfo: &mut jpeg_compress_struct) -> boolean {
    // SAFETY: see `dest`.
    let d = unsafe { dest(cinfo) };
    // libjpeg calls this when the whole window is written.
    let len = d.out.len() + d.window;
    // SAFETY: libjpeg wrote all `window` bytes after `len`, inside the capacity.
    unsafe { d.out.set_len(len) };
    hand_out(d);
    1
}

unsafe extern "C-unwind" fn term_destination(cinfo: &mut jpeg_compress_struct) {
    // SAFETY: see `dest`.
    let d = unsafe { dest(cinfo) };
    let written = d.window - d.iface.free_in_buffer;
    let len = d.out.len() + written;
    // SAFETY: libjpeg wrote `written` bytes of the window, inside the capacity.
    unsafe { d.out.set_len(len) };
    d.window = 0;
}
