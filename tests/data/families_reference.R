# Reference numbers for trustseg's outcome families (issue 12): binomial
# (logit), Poisson (log link), censored normal (Tobit) and ordinal
# (cumulative logit).
#
# Writes, next to this script:
#   families_reference.json   all reference numbers (see "cases" below)
#   censored_example.csv      simulated bounded 1-7 score (Tobit, K = 1)
#   ordinal_example.csv       simulated single 1-5 item (clm, K = 1)
# and reads NPreg.csv (flexmix's data(NPreg), bundled in this folder).
#
# Regenerate from the repository root with
#   Rscript tests/data/families_reference.R
# Needs R with flexmix, ordinal, AER (with survival) and jsonlite
# (Debian: apt-get install r-cran-flexmix r-cran-ordinal r-cran-aer).
#
# Components of the flexmix fits are in flexmix's order: match them by
# parameters, not by position.

suppressPackageStartupMessages({
  library(flexmix)
  library(ordinal)
  library(AER)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = FALSE)
script <- sub("^--file=", "", args[grep("^--file=", args)])
outdir <- if (length(script)) dirname(normalizePath(script)) else "tests/data"

named <- function(x) as.list(setNames(unname(x), names(x)))

# ---------------------------------------------------------------------------
# NPreg (flexmix), read from the bundled CSV (x has 15 significant digits
# there; the fits below use the CSV, the same numbers Python reads)
# ---------------------------------------------------------------------------
NPreg <- read.csv(file.path(outdir, "NPreg.csv"))
data("NPreg", package = "flexmix", envir = (fm <- new.env()))
stopifnot(isTRUE(all.equal(NPreg$x, fm$NPreg$x, tolerance = 1e-13)),
          identical(as.numeric(NPreg$yp), as.numeric(fm$NPreg$yp)),
          identical(as.numeric(NPreg$yb), as.numeric(fm$NPreg$yb)))

# ---------------------------------------------------------------------------
# K = 1 GLMs with glm() (cross-check for flexmix's K = 1)
# ---------------------------------------------------------------------------
glm_case <- function(name, formula, family) {
  g <- glm(formula, data = NPreg, family = family)
  list(name = name, method = "stats::glm", formula = deparse(formula),
       family = family, link = g$family$link, n = nobs(g), K = 1,
       logLik = as.numeric(logLik(g)), df = attr(logLik(g), "df"),
       deviance = g$deviance, converged = g$converged,
       coefficients = named(coef(g)),
       std_errors = named(sqrt(diag(vcov(g)))),
       vcov = unname(vcov(g)))
}

# ---------------------------------------------------------------------------
# flexmix stepFlexmix, best fit per K, refit() standard errors
# ---------------------------------------------------------------------------
flexmix_case <- function(name, formula, family, seed, ks = 1:3, nrep = 50) {
  set.seed(seed)
  st <- stepFlexmix(formula, data = NPreg, k = ks, nrep = nrep,
                    model = FLXMRglm(family = family), verbose = FALSE)
  models <- lapply(ks, function(k) {
    m <- getModel(st, which = as.character(k))
    kf <- m@k
    pars <- parameters(m)
    comps <- lapply(seq_len(kf), function(j) {
      p <- pars[, j]
      names(p) <- sub("^coef\\.", "", rownames(pars))
      named(p)
    })
    rf <- refit(m)
    capture.output(sc <- summary(rf)@components[[1]])
    refit_comps <- lapply(seq_len(kf), function(j) {
      cm <- sc[[j]]
      list(term = rownames(cm), estimate = unname(cm[, "Estimate"]),
           std_error = unname(cm[, "Std. Error"]))
    })
    conc <- NULL
    if (kf > 1) {
      capture.output(cc <- summary(rf, which = "concomitant")@concomitant)
      conc <- lapply(names(cc), function(nm) {
        cm <- cc[[nm]]
        list(component = nm, estimate = unname(cm[, "Estimate"]),
             std_error = unname(cm[, "Std. Error"]))
      })
    }
    # Polish: restart EM from the best posterior with a tight tolerance and
    # no component removal, to show how far the default stopping rule
    # (tolerance 1e-6 on the log-likelihood) is from the maximum.
    pol <- flexmix(formula, data = NPreg, cluster = posterior(m),
                   model = FLXMRglm(family = family),
                   control = list(tolerance = 1e-12, iter.max = 20000,
                                  minprior = 0))
    ppars <- parameters(pol)
    list(k_requested = k, k_fitted = kf,
         logLik = as.numeric(logLik(m)), df = attr(logLik(m), "df"),
         AIC = AIC(m), BIC = BIC(m), ICL = ICL(m),
         iterations = m@iter, converged = m@converged,
         prior = I(unname(prior(m))), sizes = I(unname(as.numeric(m@size))),
         components = comps,
         refit = refit_comps,
         refit_prior_logit = conc,
         refit_prior_logit_note = if (kf > 1) paste(
           "refit() parametrises the shares as a multinomial logit with",
           "component 1 as baseline: log(prior_j / prior_1), j >= 2"),
         polished = list(logLik = as.numeric(logLik(pol)), iterations = pol@iter,
                         k = pol@k, prior = I(unname(prior(pol))),
                         components = lapply(seq_len(pol@k), function(j) {
                           p <- ppars[, j]
                           names(p) <- sub("^coef\\.", "", rownames(ppars))
                           named(p)
                         })))
  })
  list(name = name, method = "flexmix::stepFlexmix + refit()",
       call = sprintf(paste0("set.seed(%d); stepFlexmix(%s, data = NPreg, k = %s,",
                             " nrep = %d, model = FLXMRglm(family = \"%s\"))"),
                      seed, deparse(formula), deparse(ks), nrep, family),
       formula = deparse(formula), family = family, n = nrow(NPreg),
       control = list(iter.max = 200, minprior = 0.05, tolerance = 1e-6),
       models = models)
}

# ---------------------------------------------------------------------------
# Simulated data shared by the censored and ordinal examples
# ---------------------------------------------------------------------------
# satisfaction: mean of three 1-7 items; item_i = round(s + e_i) clipped to
# [1, 7], s ~ N(4.8, 1.3^2), e_i ~ N(0, 0.7^2).  Values on a grid of 1/3.
sim_satisfaction <- function(n) {
  s <- rnorm(n, 4.8, 1.3)
  items <- sapply(1:3, function(i) pmin(pmax(round(s + rnorm(n, 0, 0.7)), 1), 7))
  rowMeans(items)
}

# Censored (Tobit) example, n = 400:
#   loyalty* = 0.4 + 1.05 * satisfaction + N(0, 1.3^2)
#   loyalty  = min(max(loyalty*, 1), 7)      (censored at the scale bounds)
set.seed(20240612)
n <- 400
cens <- data.frame(satisfaction = sim_satisfaction(n))
latent <- 0.4 + 1.05 * cens$satisfaction + rnorm(n, 0, 1.3)
cens$loyalty <- pmin(pmax(latent, 1), 7)
write.csv(cens, file.path(outdir, "censored_example.csv"), row.names = FALSE)
cens <- read.csv(file.path(outdir, "censored_example.csv"))  # fit what was written

tb <- tobit(loyalty ~ satisfaction, left = 1, right = 7, data = cens)
vc <- vcov(tb)
sv <- survreg(Surv(ifelse(loyalty <= 1, NA, loyalty), ifelse(loyalty >= 7, NA, loyalty),
                   type = "interval2") ~ satisfaction, data = cens, dist = "gaussian")
tobit_case <- list(
  name = "censored_tobit_k1", method = "AER::tobit (survival::survreg, dist gaussian)",
  call = "tobit(loyalty ~ satisfaction, left = 1, right = 7, data = censored_example)",
  data = "censored_example.csv",
  simulation = paste(
    "set.seed(20240612); n = 400; satisfaction = mean of three 1-7 items,",
    "item_i = clip(round(s + e_i), 1, 7), s ~ N(4.8, 1.3^2), e_i ~ N(0, 0.7^2);",
    "loyalty = clip(0.4 + 1.05 * satisfaction + N(0, 1.3^2), 1, 7)",
    "(draw order: s, e_1, e_2, e_3, then the loyalty noise)"),
  true_values = list(`(Intercept)` = 0.4, satisfaction = 1.05, sigma = 1.3),
  n = nrow(cens), K = 1,
  n_left_censored = sum(cens$loyalty <= 1), n_right_censored = sum(cens$loyalty >= 7),
  logLik = as.numeric(logLik(tb)), df = attr(logLik(tb), "df"),
  coefficients = named(coef(tb)), sigma = tb$scale,
  log_sigma = log(tb$scale),
  std_errors = named(sqrt(diag(vc))[names(coef(tb))]),
  se_log_sigma = sqrt(vc["Log(scale)", "Log(scale)"]),
  se_sigma_delta = tb$scale * sqrt(vc["Log(scale)", "Log(scale)"]),
  vcov_terms = rownames(vc), vcov = unname(vc),
  vcov_note = "vcov() is on (coefficients, log(sigma)); se_sigma_delta = sigma * se(log sigma)",
  survreg_crosscheck_logLik = as.numeric(logLik(sv)))

# Ordinal example, n = 400: one 1-5 item
#   y* = 1.2 * satisfaction + logistic noise,
#   item = j  iff  theta_{j-1} < y* <= theta_j,  theta = (3.5, 5, 6.2, 7.5)
set.seed(20240613)
ordd <- data.frame(satisfaction = sim_satisfaction(n))
ystar <- 1.2 * ordd$satisfaction + rlogis(n)
ordd$item <- as.integer(cut(ystar, c(-Inf, 3.5, 5, 6.2, 7.5, Inf)))
write.csv(ordd, file.path(outdir, "ordinal_example.csv"), row.names = FALSE)
ordd <- read.csv(file.path(outdir, "ordinal_example.csv"))
ordd$item_f <- factor(ordd$item, levels = 1:5, ordered = TRUE)

cl <- clm(item_f ~ satisfaction, data = ordd, link = "logit")
vc <- vcov(cl)
ordinal_case <- list(
  name = "ordinal_clm_k1", method = "ordinal::clm",
  call = "clm(factor(item, levels = 1:5, ordered = TRUE) ~ satisfaction, link = \"logit\", data = ordinal_example)",
  data = "ordinal_example.csv",
  simulation = paste(
    "set.seed(20240613); n = 400; satisfaction as in the censored example;",
    "item = j iff theta_{j-1} < 1.2 * satisfaction + Logistic(0, 1) <= theta_j,",
    "theta = (3.5, 5, 6.2, 7.5) (draw order: s, e_1, e_2, e_3, then the logistic noise)"),
  true_values = list(thresholds = c(3.5, 5, 6.2, 7.5), satisfaction = 1.2),
  parameterisation = "logit P(Y <= j | x) = theta_j - x'beta, j = 1..4 (clm default, no intercept)",
  n = nrow(ordd), K = 1, counts = as.list(table(factor(ordd$item, levels = 1:5))),
  logLik = as.numeric(logLik(cl)), df = attr(logLik(cl), "df"),
  converged = cl$convergence$code == 0, max_gradient = max(abs(cl$gradient)),
  thresholds = named(cl$alpha), beta = named(cl$beta),
  std_errors = named(sqrt(diag(vc))),
  vcov_terms = rownames(vc), vcov = unname(vc))

out <- list(
  generator = "tests/data/families_reference.R",
  versions = list(R = R.version.string,
                  flexmix = as.character(packageVersion("flexmix")),
                  ordinal = as.character(packageVersion("ordinal")),
                  AER = as.character(packageVersion("AER")),
                  survival = as.character(packageVersion("survival")),
                  jsonlite = as.character(packageVersion("jsonlite"))),
  note = paste(
    "flexmix components are in flexmix's order: match by parameters.",
    "The flexmix logLik is at EM's default stopping rule (tolerance 1e-6);",
    "'polished' restarts EM from the best posterior with tolerance 1e-12 and",
    "minprior 0. refit() standard errors come from optim's numerical Hessian.",
    "NPreg yb is 0/1 (one trial); flexmix's documentation warns that mixtures",
    "of binomials are not generically identified without grouping, so the",
    "K >= 2 binomial fits (ungrouped) are not identified in practice: EM stops",
    "near the K = 1 fit, while refit() and the polished EM run off to",
    "separating components (|coef| -> infinity); use their logLik only as a",
    "lower bound and do not compare their standard errors.",
    "flexmix_binomial_grouped_id2 is flexmix's own grouped example (| id2).",
    "flexmix_binomial_trials is the identified binomial case with trials:",
    "yp read as successes out of 12 trials (12 = max(yp)), cbind(yp, 12 - yp) ~ x.",
    "Standard errors of NA/NaN are written as null."),
  cases = list(
    glm_poisson_k1 = glm_case("glm_poisson_k1", yp ~ x, "poisson"),
    glm_binomial_k1 = glm_case("glm_binomial_k1", cbind(yb, 1 - yb) ~ x, "binomial"),
    flexmix_poisson = flexmix_case("flexmix_poisson", yp ~ x, "poisson", seed = 1201),
    flexmix_binomial = flexmix_case("flexmix_binomial", cbind(yb, 1 - yb) ~ x,
                                    "binomial", seed = 1202),
    # Extra, for information: flexmix's own identified binomial example groups
    # the rows by id2 (4 rows per group share one component).
    flexmix_binomial_grouped_id2 = flexmix_case(
      "flexmix_binomial_grouped_id2", cbind(yb, 1 - yb) ~ x | id2,
      "binomial", seed = 1203),
    # The binomial with trials, ungrouped: the 0/1 yb gives no usable K >= 2
    # maximum (see the note), and the grouped fit needs respondent groups.
    # yp (counts 0..12) read as successes out of 12 trials, 12 = max(yp): a
    # row carries 12 Bernoulli draws of one component, so the mixture of
    # logistic regressions is identified for K = 2 and 3 (trials >= 2K - 1).
    flexmix_binomial_trials = flexmix_case(
      "flexmix_binomial_trials", cbind(yp, 12 - yp) ~ x, "binomial", seed = 1204),
    censored_tobit_k1 = tobit_case,
    ordinal_clm_k1 = ordinal_case))

write_json(out, file.path(outdir, "families_reference.json"),
           auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null", na = "null")
cat("wrote", file.path(outdir, "families_reference.json"), "\n")
