# Time R flexmix on one simulated chain survey of benchmarks/chain_bench.py (issue 13).
#
# Usage: Rscript benchmarks/flexmix_chain.R <data.csv> <k> <nrep> <seed>
# The CSV has columns sat, trust, rep.  Fits the chain of two equations
# sharing the latent classes,
#   stepFlexmix(~ 1, k = k, nrep = nrep,
#               model = list(FLXMRglm(trust ~ sat), FLXMRglm(rep ~ sat + trust)))
# with flexmix's default controls (EM stops at a relative log-likelihood
# change below 1e-6, at most 200 iterations, components below a 5 % prior
# dropped) and drop = FALSE, so every start's log-likelihood is kept (the same
# fits as the default call, which returns only the best).  Prints key=value
# lines: seconds (stepFlexmix only, not reading the file), loglik (best of the
# nrep starts, flexmix's logLik), logliks (every start's), loglik_at_parameters
# (the mixture log-likelihood recomputed at the best fit's stored prior and
# components: flexmix's sigma carries a df correction, n / (n - p), and its
# logLik uses the shares of the last iteration), k_fitted, iter and converged
# of the best start, prior, the flexmix version and the process's peak
# resident memory (MiB).
suppressPackageStartupMessages(library(flexmix))
args <- commandArgs(trailingOnly = TRUE)
data <- read.csv(args[1])[, c("sat", "trust", "rep")]
k <- as.integer(args[2])
nrep <- as.integer(args[3])
set.seed(as.integer(args[4]))
formulas <- list(trust ~ sat, rep ~ sat + trust)
elapsed <- system.time(
  st <- stepFlexmix(~ 1, data = data, k = k, nrep = nrep, drop = FALSE, verbose = FALSE,
                    model = lapply(formulas, function(f) FLXMRglm(f)))
)[["elapsed"]]
fit <- getModel(st, which = as.character(k))
if (!is(fit, "flexmix")) fit <- getModel(st, which = 1)

# the log-likelihood at the fit's stored prior and components
loglik_at <- function(fit) {
  prior <- prior(fit)
  logd <- sapply(seq_along(prior), function(j) {
    s <- rep(log(prior[j]), nrow(data))
    for (e in seq_along(formulas)) {
      p <- parameters(fit, model = e)
      if (!is.matrix(p)) p <- as.matrix(p)
      p <- p[, j]
      X <- model.matrix(formulas[[e]], data)
      y <- model.response(model.frame(formulas[[e]], data))
      s <- s + dnorm(y, drop(X %*% p[grepl("^coef\\.", names(p))]), p[["sigma"]], log = TRUE)
    }
    s
  })
  logd <- matrix(logd, nrow = nrow(data))
  mx <- apply(logd, 1, max)
  sum(mx + log(rowSums(exp(logd - mx))))
}

status <- readLines("/proc/self/status")
hwm <- as.numeric(gsub("[^0-9]", "", status[grepl("^VmHWM", status)])) / 1024
cat(sprintf("seconds=%.3f\n", elapsed))
cat(sprintf("loglik=%.6f\n", as.numeric(logLik(fit))))
cat(sprintf("logliks=%s\n", paste(sprintf("%.6f", st@logLiks[1, ]), collapse = " ")))
cat(sprintf("loglik_at_parameters=%.6f\n", loglik_at(fit)))
cat(sprintf("k_fitted=%d\n", fit@k))
cat(sprintf("iter=%d\n", fit@iter))
cat(sprintf("converged=%s\n", fit@converged))
cat(sprintf("prior=%s\n", paste(sprintf("%.4f", prior(fit)), collapse = " ")))
cat(sprintf("flexmix=%s\n", as.character(packageVersion("flexmix"))))
cat(sprintf("peak_rss_mib=%.1f\n", hwm))
