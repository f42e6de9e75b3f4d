# Fit one clusterwise regression with R flexmix and print the result as JSON.
#
# Usage: Rscript benchmarks/flexmix_matrix.R <data.csv> <k> <seed> [nrep]
#
# Reads a CSV with columns x, y, calls set.seed(<seed>) and fits
# stepFlexmix(y ~ x, k = <k>, nrep = <nrep>) (nrep default 10, flexmix defaults
# otherwise: EM tolerance 1e-6, minprior 0.05).  Prints one JSON line:
#   seconds   - elapsed time of stepFlexmix alone (not reading the CSV)
#   loglik    - logLik() of the best of the nrep starts; flexmix evaluates it
#               with its df-corrected sigma, so it sits slightly below the ML value
#   k_fitted  - components left (flexmix drops those with prior < minprior)
#   iter, converged, and the parameters on the original scale:
#   intercept, coef, sigma, weights (one entry per fitted component).
# Called once per fit by benchmarks/optimum_matrix.py (flexmix subcommand).
suppressPackageStartupMessages(library(flexmix))

args <- commandArgs(trailingOnly = TRUE)
if (length(args) < 3) stop("usage: flexmix_matrix.R <data.csv> <k> <seed> [nrep]")
data <- read.csv(args[1])
k <- as.integer(args[2])
seed <- as.integer(args[3])
nrep <- if (length(args) >= 4) as.integer(args[4]) else 10L

num <- function(v) paste0("[", paste(sprintf("%.17g", v), collapse = ", "), "]")

set.seed(seed)
elapsed <- system.time(
  fit <- stepFlexmix(y ~ x, data = data, k = k, nrep = nrep, verbose = FALSE)
)[["elapsed"]]

pars <- parameters(fit)
fields <- c(
  sprintf('"seconds": %.3f', elapsed),
  sprintf('"loglik": %.17g', as.numeric(logLik(fit))),
  sprintf('"k": %d', k),
  sprintf('"k_fitted": %d', length(fit@size)),
  sprintf('"seed": %d', seed),
  sprintf('"nrep": %d', nrep),
  sprintf('"n": %d', nrow(data)),
  sprintf('"iter": %d', fit@iter),
  sprintf('"converged": %s', if (isTRUE(fit@converged)) "true" else "false"),
  sprintf('"intercept": %s', num(pars["coef.(Intercept)", ])),
  sprintf('"coef": %s', num(pars["coef.x", ])),
  sprintf('"sigma": %s', num(pars["sigma", ])),
  sprintf('"weights": %s', num(prior(fit))),
  sprintf('"flexmix_version": "%s"', as.character(packageVersion("flexmix"))),
  sprintf('"r_version": "%s"', paste(R.version$major, R.version$minor, sep = "."))
)
cat("{", paste(fields, collapse = ", "), "}\n", sep = "")
