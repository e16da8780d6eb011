//! Borrowed views of time-series sets and the two sample encodings (f32, int8).

/// A value the MiniRocket convolution can consume.
///
/// f32 series are convolved in f32; int8 series are convolved exactly in i32
/// (an nRF52840 stores int8 samples in a quarter of the RAM and sums them
/// without rounding), then compared with the f32 biases.
pub trait ConvInput: Copy + Default + core::fmt::Debug + 'static {
    /// The accumulator the convolution sums in.
    type Acc: Copy
        + Default
        + core::ops::Add<Output = Self::Acc>
        + core::ops::Sub<Output = Self::Acc>
        + core::ops::Mul<Output = Self::Acc>
        + PartialOrd
        + core::fmt::Debug;
    /// Converts a value to the accumulator type.
    fn to_acc(self) -> Self::Acc;
    /// The accumulator's value 3, the weight difference between the three
    /// chosen taps (weight 2) and the others (weight −1).
    const THREE: Self::Acc;
    /// The convolution output as f32, for comparing with biases.
    fn acc_to_f32(acc: Self::Acc) -> f32;
}

impl ConvInput for f32 {
    type Acc = f32;
    const THREE: f32 = 3.0;
    #[inline(always)]
    fn to_acc(self) -> f32 {
        self
    }
    #[inline(always)]
    fn acc_to_f32(acc: f32) -> f32 {
        acc
    }
}

impl ConvInput for i8 {
    type Acc = i32;
    const THREE: i32 = 3;
    #[inline(always)]
    fn to_acc(self) -> i32 {
        self as i32
    }
    #[inline(always)]
    fn acc_to_f32(acc: i32) -> f32 {
        // |acc| ≤ 18·127: exact in f32.
        acc as f32
    }
}

/// A set of `n_series` equal-length series with `n_channels` channels each,
/// laid out `[series][channel][t]` in one slice.
#[derive(Debug, Clone, Copy)]
pub struct SeriesView<'a, T> {
    data: &'a [T],
    n_series: usize,
    n_channels: usize,
    length: usize,
}

/// A slice's length does not match the shape given for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "series data has {got} values, expected {n_series} series × {n_channels} channels × {length} = {expected}"
)]
pub struct ShapeError {
    /// Values in the slice.
    pub got: usize,
    /// Values the shape needs.
    pub expected: usize,
    /// Series in the shape.
    pub n_series: usize,
    /// Channels in the shape.
    pub n_channels: usize,
    /// Length in the shape.
    pub length: usize,
}

impl<'a, T> SeriesView<'a, T> {
    /// Wraps `data` as `n_series × n_channels × length` values.
    pub fn new(
        data: &'a [T],
        n_series: usize,
        n_channels: usize,
        length: usize,
    ) -> Result<Self, ShapeError> {
        let expected = n_series * n_channels * length;
        if data.len() != expected {
            return Err(ShapeError {
                got: data.len(),
                expected,
                n_series,
                n_channels,
                length,
            });
        }
        Ok(Self {
            data,
            n_series,
            n_channels,
            length,
        })
    }

    /// A view of a single series (`n_channels × length` values).
    pub fn single(data: &'a [T], n_channels: usize) -> Result<Self, ShapeError> {
        let length = data.len().checked_div(n_channels).unwrap_or(0);
        Self::new(data, 1, n_channels, length)
    }

    /// Number of series.
    pub fn n_series(&self) -> usize {
        self.n_series
    }
    /// Channels per series.
    pub fn n_channels(&self) -> usize {
        self.n_channels
    }
    /// Time steps per channel.
    pub fn length(&self) -> usize {
        self.length
    }
    /// All channels of series `i`, channel-major.
    pub fn series(&self, i: usize) -> &'a [T] {
        let n = self.n_channels * self.length;
        &self.data[i * n..(i + 1) * n]
    }
    /// Channel `c` of series `i`.
    pub fn channel(&self, i: usize, c: usize) -> &'a [T] {
        let s = self.series(i);
        &s[c * self.length..(c + 1) * self.length]
    }
    /// The underlying slice.
    pub fn as_slice(&self) -> &'a [T] {
        self.data
    }
}

/// The symmetric int8 scale of a training set: `q = round(x · 127 / max|x|)`.
///
/// Computed once from the whole training set (by the coordinator, which sends
/// it in the plan) so that every device quantises identically.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Int8Scale {
    /// Multiplier from real values to int8 steps (`127 / max|x|`).
    pub per_unit: f32,
}

impl Int8Scale {
    /// The scale that maps the largest |x| of `values` to ±127 (1.0 for an all-zero set).
    pub fn from_values(values: &[f32]) -> Self {
        let max_abs = values.iter().fold(0.0f32, |m, &x| {
            let a = libm::fabsf(x);
            if a > m { a } else { m }
        });
        let per_unit = if max_abs > 0.0 { 127.0 / max_abs } else { 1.0 };
        Self { per_unit }
    }

    /// Quantises one value (round half away from zero, saturating at ±127).
    pub fn quantize(&self, x: f32) -> i8 {
        let q = libm::roundf(x * self.per_unit);
        q.clamp(-127.0, 127.0) as i8
    }

    /// Quantises `src` into `dst` (same length).
    pub fn quantize_into(&self, src: &[f32], dst: &mut [i8]) {
        for (d, &s) in dst.iter_mut().zip(src) {
            *d = self.quantize(s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view_shape_is_checked() {
        let d = [0.0f32; 12];
        assert!(SeriesView::new(&d, 2, 2, 3).is_ok());
        let e = SeriesView::new(&d, 2, 2, 4).unwrap_err();
        assert_eq!(e.expected, 16);
        let v = SeriesView::new(&d, 2, 2, 3).unwrap();
        assert_eq!(v.channel(1, 1).len(), 3);
    }

    #[test]
    fn int8_scale_maps_max_to_127() {
        let s = Int8Scale::from_values(&[0.5, -2.0, 1.0]);
        assert_eq!(s.quantize(-2.0), -127);
        assert_eq!(s.quantize(2.0), 127);
        assert_eq!(s.quantize(1.0), 64); // 63.5 rounds away from zero
        assert_eq!(s.quantize(100.0), 127);
        assert_eq!(s.quantize(0.0), 0);
    }
}
