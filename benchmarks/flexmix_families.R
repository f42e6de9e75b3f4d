# Time R flexmix on one simulated survey of benchmarks/families_bench.py.
#
# Usage: Rscript benchmarks/flexmix_families.R <data.csv> <family> <k> <nrep> <seed>
# family: binomial (columns y successes, trials), poisson (y), poisson_offset
# (y, offset = log exposure); predictors sat and z.  Fits
# stepFlexmix(..., k, nrep) with FLXMRglm and flexmix's default controls (EM
# stops at a relative log-likelihood change below 1e-6, at most 200
# iterations, components below a 5 % prior dropped).  Prints key=value lines:
# seconds (stepFlexmix only, not reading the file), loglik (best of the nrep
# starts), k_fitted, iter and converged of that start, the flexmix version.
suppressPackageStartupMessages(library(flexmix))
args <- commandArgs(trailingOnly = TRUE)
data <- read.csv(args[1])
family <- args[2]
k <- as.integer(args[3])
nrep <- as.integer(args[4])
set.seed(as.integer(args[5]))
if (family == "binomial") {
  data$failures <- data$trials - data$y
  formula <- cbind(y, failures) ~ sat + z
  model <- FLXMRglm(family = "binomial")
} else if (family == "poisson") {
  formula <- y ~ sat + z
  model <- FLXMRglm(family = "poisson")
} else if (family == "poisson_offset") {
  formula <- y ~ sat + z
  model <- FLXMRglm(family = "poisson", offset = data$offset)
} else {
  stop(sprintf("family %s: expected binomial, poisson or poisson_offset", family))
}
elapsed <- system.time(
  fit <- stepFlexmix(formula, data = data, k = k, nrep = nrep, model = model, verbose = FALSE)
)[["elapsed"]]
cat(sprintf("seconds=%.3f\n", elapsed))
cat(sprintf("loglik=%.6f\n", as.numeric(logLik(fit))))
cat(sprintf("k_fitted=%d\n", length(fit@size)))
cat(sprintf("iter=%d\n", fit@iter))
cat(sprintf("converged=%s\n", fit@converged))
cat(sprintf("flexmix=%s\n", as.character(packageVersion("flexmix"))))
