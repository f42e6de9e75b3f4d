# Time R flexmix on a simulated clusterwise-regression data set.
#
# Usage: Rscript benchmarks/flexmix_bench.R <data.csv> <k> <nrep>
# The CSV has columns x, y.  Prints key=value lines: seconds (stepFlexmix only,
# not reading the file), loglik (best over the nrep starts), k_fitted, iter.
# Peak memory is measured from outside (bench_engine.py wraps this script in
# /usr/bin/time -v).
suppressPackageStartupMessages(library(flexmix))
args <- commandArgs(trailingOnly = TRUE)
data <- read.csv(args[1])
k <- as.integer(args[2])
nrep <- as.integer(args[3])
set.seed(1)
elapsed <- system.time(
  fit <- stepFlexmix(y ~ x, data = data, k = k, nrep = nrep, verbose = FALSE)
)[["elapsed"]]
cat(sprintf("seconds=%.3f\n", elapsed))
cat(sprintf("loglik=%.6f\n", as.numeric(logLik(fit))))
cat(sprintf("k_fitted=%d\n", length(fit@size)))
cat(sprintf("iter=%d\n", fit@iter))
cat(sprintf("flexmix=%s\n", as.character(packageVersion("flexmix"))))
