# Reference numbers for the measurement-error correction (issue 27): with one
# segment, trustseg's corrected coefficients must equal a structural equation
# model with single indicators and fixed error variances, fitted by lavaan:
#   F =~ 1*score;  score ~~ theta*score,  theta = (1 - alpha) * var(score)
# (alpha: Cronbach's alpha of the construct's items; var with n - 1), and the
# structural paths between the latent F's.
#
# Data: the bundled golf survey (resources/golf_survey.csv), rows with every
# item answered; satisfaction = mean of sat_course, sat_greens, sat_clubhouse,
# sat_value and 8 - sat_booking_hassle; trust = mean of trust_honest,
# trust_reliable, trust_cares; repurchase = mean of rep_renew,
# rep_play_again, rep_recommend.  No cleaning rules: the test rebuilds the
# same scores from the same file.
#
# Models (estimator ML, likelihood "normal": variances with n, as the mixture's
# maximum likelihood; standard errors from the expected information, lavaan's
# default for complete data, "standard"):
#   single: trust ~ satisfaction
#   chain:  trust ~ a*satisfaction; repurchase ~ c*satisfaction + b*trust;
#           indirect := a*b
# Writes measurement_reference.json beside this script.
#
# Regenerate from the repository root:
#   Rscript tests/data/measurement_reference.R
# Needs R with lavaan and jsonlite (Debian: apt-get install r-cran-lavaan r-cran-jsonlite).

suppressPackageStartupMessages({
  library(lavaan)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = FALSE)
script <- sub("^--file=", "", args[grep("^--file=", args)])
outdir <- if (length(script)) dirname(normalizePath(script)) else "tests/data"
survey <- read.csv(file.path(outdir, "..", "..", "resources", "golf_survey.csv"))

items <- list(
  satisfaction = c("sat_course", "sat_greens", "sat_clubhouse", "sat_value", "sat_booking_hassle"),
  trust = c("trust_honest", "trust_reliable", "trust_cares"),
  repurchase = c("rep_renew", "rep_play_again", "rep_recommend")
)
all_items <- unlist(items)
survey <- survey[complete.cases(survey[, all_items]), ]
survey$sat_booking_hassle <- 8 - survey$sat_booking_hassle

cronbach <- function(block) {
  k <- ncol(block)
  k / (k - 1) * (1 - sum(apply(block, 2, var)) / var(rowSums(block)))
}

scores <- data.frame(lapply(items, function(cols) rowMeans(survey[, cols])))
alpha <- sapply(items, function(cols) cronbach(survey[, cols]))
theta <- sapply(names(items), function(v) (1 - alpha[[v]]) * var(scores[[v]]))
names(theta) <- names(items)

measurement <- paste0(
  "Fs =~ 1*satisfaction\n satisfaction ~~ ", theta[["satisfaction"]], "*satisfaction\n",
  "Ft =~ 1*trust\n trust ~~ ", theta[["trust"]], "*trust\n",
  "Fr =~ 1*repurchase\n repurchase ~~ ", theta[["repurchase"]], "*repurchase\n"
)
# the single equation reads only its own two constructs (with Fr in the model its covariances would be constrained)
single_model <- paste0(
  "Fs =~ 1*satisfaction\n satisfaction ~~ ", theta[["satisfaction"]], "*satisfaction\n",
  "Ft =~ 1*trust\n trust ~~ ", theta[["trust"]], "*trust\n", "Ft ~ Fs\n"
)
chain_model <- paste0(measurement, "Ft ~ a*Fs\n Fr ~ c*Fs + b*Ft\n indirect := a*b\n")

fit_of <- function(model) {
  sem(model, data = scores, estimator = "ML", likelihood = "normal", meanstructure = TRUE,
      se = "standard", information = "expected")
}
table_of <- function(fit, keep) {
  pe <- parameterEstimates(fit)
  pe$name <- ifelse(pe$op == ":=", pe$lhs, paste(pe$lhs, pe$op, pe$rhs))
  pe <- pe[pe$name %in% keep, ]
  setNames(lapply(seq_len(nrow(pe)), function(i) list(estimate = pe$est[i], std_error = pe$se[i])), pe$name)
}

single <- fit_of(single_model)
chain <- fit_of(chain_model)
out <- list(
  source = "resources/golf_survey.csv (bundled simulated golf-club survey), complete item rows",
  r_version = R.version.string,
  lavaan_version = as.character(packageVersion("lavaan")),
  n = nrow(scores),
  alpha = as.list(alpha),
  theta = as.list(theta),
  score_variance = as.list(sapply(scores, var)),
  single = table_of(single, c("Ft ~ Fs")),
  chain = table_of(chain, c("Ft ~ Fs", "Fr ~ Fs", "Fr ~ Ft", "indirect"))
)
write_json(out, file.path(outdir, "measurement_reference.json"), auto_unbox = TRUE, digits = 12, pretty = TRUE)
cat("wrote", file.path(outdir, "measurement_reference.json"), "\n")
