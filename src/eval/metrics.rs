//! Classification metrics, with the same definitions as scikit-learn: `roc_auc_score`
//! (ties get half credit) and `average_precision_score` (step-wise PR area).

/// Counts of a binary decision against ground truth.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Confusion {
    pub tp: usize,
    pub fp: usize,
    pub fn_: usize,
    pub tn: usize,
}

impl Confusion {
    pub fn of(truth: &[bool], flags: &[bool]) -> Self {
        let mut c = Self::default();
        for (&t, &f) in truth.iter().zip(flags) {
            match (t, f) {
                (true, true) => c.tp += 1,
                (false, true) => c.fp += 1,
                (true, false) => c.fn_ += 1,
                (false, false) => c.tn += 1,
            }
        }
        c
    }
    pub fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }
    pub fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }
    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Area under the ROC curve (Mann–Whitney with average ranks). 0.5 when a class is missing.
pub fn roc_auc(truth: &[bool], scores: &[f64]) -> f64 {
    let mut idx: Vec<usize> = (0..truth.len().min(scores.len())).collect();
    idx.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let (mut pos, mut rank_sum) = (0f64, 0f64);
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && scores[idx[j + 1]] == scores[idx[i]] {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            if truth[k] {
                pos += 1.0;
                rank_sum += avg_rank;
            }
        }
        i = j + 1;
    }
    let neg = idx.len() as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return 0.5;
    }
    (rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg)
}

/// Average precision: Σ (R_n − R_{n−1}) P_n over distinct score thresholds, highest first.
pub fn average_precision(truth: &[bool], scores: &[f64]) -> f64 {
    let mut idx: Vec<usize> = (0..truth.len().min(scores.len())).collect();
    idx.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let total_pos = idx.iter().filter(|&&k| truth[k]).count() as f64;
    if total_pos == 0.0 {
        return 0.0;
    }
    let (mut tp, mut fp, mut ap, mut prev_recall) = (0f64, 0f64, 0f64, 0f64);
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && scores[idx[j + 1]] == scores[idx[i]] {
            j += 1;
        }
        for &k in &idx[i..=j] {
            if truth[k] {
                tp += 1.0
            } else {
                fp += 1.0
            }
        }
        let recall = tp / total_pos;
        ap += (recall - prev_recall) * tp / (tp + fp);
        prev_recall = recall;
        i = j + 1;
    }
    ap
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_scikit_learn_on_a_small_case() {
        // scikit-learn 1.x: python -c "from sklearn.metrics import roc_auc_score as r,
        //   average_precision_score as a; y=[0,0,1,1,0,1]; s=[.1,.4,.35,.8,.4,.4]; print(r(y,s),a(y,s))"
        // → 0.6666666666666667 0.7
        let y = [false, false, true, true, false, true];
        let s = [0.1, 0.4, 0.35, 0.8, 0.4, 0.4];
        assert!(
            (roc_auc(&y, &s) - 0.666_666_666_666_666_7).abs() < 1e-12,
            "{}",
            roc_auc(&y, &s)
        );
        assert!(
            (average_precision(&y, &s) - 0.7).abs() < 1e-12,
            "{}",
            average_precision(&y, &s)
        );
        let c = Confusion::of(&y, &[false, true, true, true, false, false]);
        assert_eq!((c.tp, c.fp, c.fn_, c.tn), (2, 1, 1, 2));
        assert!((c.f1() - 2.0 / 3.0).abs() < 1e-12);
    }
}
