//! A safe, bounds-checked front for the `gemm` crate's f32 matrix product, for the CPU kernels.

/// A row-major view of a matrix inside a slice: element `(r, c)` is at
/// `offset + r * row_stride + c * col_stride`.
#[derive(Debug, Clone, Copy)]
pub struct MatrixView {
    pub rows: usize,
    pub cols: usize,
    pub row_stride: usize,
    pub col_stride: usize,
}

impl MatrixView {
    /// A dense row-major matrix.
    pub fn dense(rows: usize, cols: usize) -> Self {
        Self {
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// The same elements seen transposed.
    pub fn transposed(self) -> Self {
        Self {
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
        }
    }

    /// One past the largest index touched.
    fn extent(&self) -> usize {
        if self.rows == 0 || self.cols == 0 {
            0
        } else {
            (self.rows - 1) * self.row_stride + (self.cols - 1) * self.col_stride + 1
        }
    }
}

/// `dst = lhs · rhs` (or `dst += lhs · rhs` when `accumulate`), single-threaded: callers
/// parallelise over independent products.
///
/// Panics if the shapes disagree or a view reaches past its slice.
pub fn matmul(
    dst: &mut [f32],
    dst_view: MatrixView,
    lhs: &[f32],
    lhs_view: MatrixView,
    rhs: &[f32],
    rhs_view: MatrixView,
    accumulate: bool,
) {
    assert_eq!(lhs_view.cols, rhs_view.rows, "inner dimensions differ");
    assert_eq!(dst_view.rows, lhs_view.rows, "row counts differ");
    assert_eq!(dst_view.cols, rhs_view.cols, "column counts differ");
    assert!(dst_view.extent() <= dst.len(), "dst view out of bounds");
    assert!(lhs_view.extent() <= lhs.len(), "lhs view out of bounds");
    assert!(rhs_view.extent() <= rhs.len(), "rhs view out of bounds");
    if dst_view.rows == 0 || dst_view.cols == 0 {
        return;
    }
    if lhs_view.cols == 0 {
        if !accumulate {
            for r in 0..dst_view.rows {
                for c in 0..dst_view.cols {
                    dst[r * dst_view.row_stride + c * dst_view.col_stride] = 0.0;
                }
            }
        }
        return;
    }
    // SAFETY: the asserts above keep every index the product touches inside the slices, and
    // `dst` is borrowed mutably so it cannot alias `lhs` or `rhs`.
    unsafe {
        gemm::gemm(
            dst_view.rows,
            dst_view.cols,
            lhs_view.cols,
            dst.as_mut_ptr(),
            dst_view.col_stride as isize,
            dst_view.row_stride as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_view.col_stride as isize,
            lhs_view.row_stride as isize,
            rhs.as_ptr(),
            rhs_view.col_stride as isize,
            rhs_view.row_stride as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_a_naive_product_with_transposed_views() {
        let (m, k, n) = (3, 4, 5);
        let a: Vec<f32> = (0..m * k).map(|v| v as f32 * 0.5 - 2.0).collect();
        let b_t: Vec<f32> = (0..n * k).map(|v| (v % 7) as f32 - 3.0).collect();
        let mut c = vec![1.0f32; m * n];
        matmul(
            &mut c,
            MatrixView::dense(m, n),
            &a,
            MatrixView::dense(m, k),
            &b_t,
            MatrixView::dense(n, k).transposed(),
            true,
        );
        for i in 0..m {
            for j in 0..n {
                let expected: f32 =
                    1.0 + (0..k).map(|l| a[i * k + l] * b_t[j * k + l]).sum::<f32>();
                assert!((c[i * n + j] - expected).abs() < 1e-4);
            }
        }
    }
}
