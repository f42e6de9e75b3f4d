# Reference numbers for mixtures in which several regression equations share
# one set of latent classes ("chains" of equations): given the class, the
# equations' errors are independent normals, so a respondent's likelihood in
# class k is the product of the equations' normal densities, and the mixture
# is  sum_k prior_k * prod_e N(y_e | x_e' beta_ke, sigma_ke^2).
# In flexmix this is a list of component models:
#   flexmix(~ 1, k = K, model = list(FLXMRglm(y1 ~ x), FLXMRglm(y2 ~ x + z)))
#
# Writes, next to this script:
#   chain_reference.json   all reference numbers (see "cases" below)
# and reads NPreg.csv (flexmix's data(NPreg)) and ecsi_mobi.csv (the ECSI
# mobile-phone survey, resources/examples/ecsi_mobi.csv), NPreg.csv in
# this folder.
#
# Regenerate from the repository root with
#   Rscript tests/data/chain_reference.R
# Needs R with flexmix and jsonlite (Debian: apt-get install r-cran-flexmix
# r-cran-jsonlite).  Takes well under a minute.
#
# Components of the flexmix fits are in flexmix's order: match them by
# parameters, not by position.

suppressPackageStartupMessages({
  library(flexmix)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = FALSE)
script <- sub("^--file=", "", args[grep("^--file=", args)])
outdir <- if (length(script)) dirname(normalizePath(script)) else "tests/data"

named <- function(x) as.list(setNames(unname(x), names(x)))
t_start <- proc.time()[["elapsed"]]

# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------
# NPreg (flexmix), read from the bundled CSV (x has 15 significant digits
# there; the fits below use the CSV, the same numbers Python reads)
NPreg <- read.csv(file.path(outdir, "NPreg.csv"))
data("NPreg", package = "flexmix", envir = (fm <- new.env()))
stopifnot(isTRUE(all.equal(NPreg$x, fm$NPreg$x, tolerance = 1e-13)),
          isTRUE(all.equal(NPreg$yn, fm$NPreg$yn, tolerance = 1e-13)),
          identical(as.numeric(NPreg$yp), as.numeric(fm$NPreg$yp)))

# ECSI mobile phone (seminr/semPLS 'mobi'), 10-point items 1-10.
# satisfaction = mean(CUSA1, CUSA2, CUSA3); loyalty = mean(CUSL1, CUSL3)
# (CUSL2 is a price-sensitivity item, left out); trust = IMAG1 (trustworthy).
ecsi_raw <- read.csv(file.path(outdir, "..", "..", "resources", "examples", "ecsi_mobi.csv"))
ecsi_items <- c("CUSA1", "CUSA2", "CUSA3", "CUSL1", "CUSL3", "IMAG1")
ecsi_complete <- complete.cases(ecsi_raw[, ecsi_items])
ecsi <- ecsi_raw[ecsi_complete, ]
ecsi <- data.frame(
  satisfaction = rowMeans(ecsi[, c("CUSA1", "CUSA2", "CUSA3")]),
  loyalty = rowMeans(ecsi[, c("CUSL1", "CUSL3")]),
  trust = as.numeric(ecsi$IMAG1))

# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------
# Parameters of a flexmix fit with several models: one list per component,
# keyed by the equation's response, each with coefficients and sigma.
components_of <- function(fit, responses) {
  pars <- lapply(seq_along(responses), function(e) {
    p <- parameters(fit, model = e)
    if (!is.matrix(p)) p <- as.matrix(p)
    p
  })
  lapply(seq_len(fit@k), function(j) {
    setNames(lapply(seq_along(responses), function(e) {
      p <- pars[[e]][, j]
      is_coef <- grepl("^coef\\.", names(p))
      list(coefficients = named(setNames(p[is_coef], sub("^coef\\.", "", names(p)[is_coef]))),
           sigma = unname(p[["sigma"]]))
    }), responses)
  })
}

# The mixture log-likelihood at given shares and components (as written by
# components_of), computed directly: sum_i log sum_k prior_k prod_e N(...).
loglik_at <- function(formulas, data, prior, comps) {
  logd <- sapply(seq_along(prior), function(k) {
    s <- rep(log(prior[k]), nrow(data))
    for (e in seq_along(formulas)) {
      X <- model.matrix(formulas[[e]], data)
      y <- model.response(model.frame(formulas[[e]], data))
      p <- comps[[k]][[e]]
      s <- s + dnorm(y, drop(X %*% unlist(p$coefficients)), p$sigma, log = TRUE)
    }
    s
  })
  logd <- matrix(logd, nrow = nrow(data))
  mx <- apply(logd, 1, max)
  sum(mx + log(rowSums(exp(logd - mx))))
}

# Exact maximum likelihood by EM, written out here (not flexmix): same model,
# but the M-step uses the ML variance sum(w r^2) / sum(w) instead of flexmix's
# n / (n - p) * sum(w r^2) / sum(w) (n = all rows, p = columns of the design),
# no component removal, started from a posterior.  The log-likelihood is flat
# at the maximum (a change of 1e-12 in it still leaves ~1e-5 in the
# parameters), so it stops when no parameter (coefficients, sigmas, priors)
# moves by more than ptol in a step, or after maxit steps.
ml_em <- function(formulas, data, post, ptol = 1e-11, maxit = 200000) {
  X <- lapply(formulas, function(f) model.matrix(f, data))
  Y <- lapply(formulas, function(f) model.response(model.frame(f, data)))
  K <- ncol(post)
  ll_old <- -Inf
  theta_old <- NULL
  decreases <- 0
  for (it in seq_len(maxit)) {
    prior <- colMeans(post)
    fits <- lapply(seq_len(K), function(k) lapply(seq_along(formulas), function(e) {
      f <- lm.wfit(X[[e]], Y[[e]], w = post[, k])
      r <- Y[[e]] - drop(X[[e]] %*% f$coefficients)
      list(coef = f$coefficients, sigma = sqrt(sum(post[, k] * r^2) / sum(post[, k])))
    }))
    logd <- sapply(seq_len(K), function(k) {
      s <- log(prior[k])
      for (e in seq_along(formulas)) {
        p <- fits[[k]][[e]]
        s <- s + dnorm(Y[[e]], drop(X[[e]] %*% p$coef), p$sigma, log = TRUE)
      }
      s
    })
    if (!is.matrix(logd)) logd <- matrix(logd, ncol = K)
    mx <- apply(logd, 1, max)
    lse <- mx + log(rowSums(exp(logd - mx)))
    ll <- sum(lse)
    if (ll < ll_old - 1e-9 * abs(ll)) decreases <- decreases + 1
    post <- exp(logd - lse)
    theta <- c(prior, unlist(fits))
    step <- if (is.null(theta_old)) Inf else max(abs(theta - theta_old))
    converged <- step < ptol
    ll_old <- ll
    theta_old <- theta
    if (converged) break
  }
  list(ll = ll, iterations = it, converged = converged, decreases = decreases,
       last_step = step,
       prior = prior, fits = fits)
}

# ---------------------------------------------------------------------------
# One case: stepFlexmix best fit per K, all rep log-likelihoods, refit() SEs,
# polished flexmix EM and exact-ML EM
# ---------------------------------------------------------------------------
chain_case <- function(name, data, data_name, formulas, seed, ks = 1:3, nrep = 50) {
  responses <- vapply(formulas, function(f) all.vars(f[[2]]), "")
  make_models <- function() lapply(formulas, function(f) FLXMRglm(f, family = "gaussian"))

  # 1. stepFlexmix as a user would call it
  set.seed(seed)
  st <- stepFlexmix(~ 1, data = data, k = ks, nrep = nrep, model = make_models(),
                    verbose = FALSE)
  # 2. The same sequence of flexmix() calls by hand (stepFlexmix draws nothing
  #    else from the RNG, so with the same seed these are exactly its reps):
  #    gives each rep's log-likelihood, fitted k and iterations.
  set.seed(seed)
  reps <- lapply(ks, function(K) lapply(seq_len(nrep), function(r) {
    x <- try(flexmix(~ 1, data = data, k = K, model = make_models()), silent = TRUE)
    if (inherits(x, "try-error")) list(logLik = NA_real_, k = NA_integer_, iter = NA_integer_)
    else list(logLik = as.numeric(logLik(x)), k = x@k, iter = x@iter)
  }))
  names(reps) <- as.character(ks)

  models <- lapply(ks, function(K) {
    m <- getModel(st, which = as.character(K))
    kf <- m@k
    rep_ll <- vapply(reps[[as.character(K)]], `[[`, 0, "logLik")
    rep_k <- vapply(reps[[as.character(K)]], `[[`, 0L, "k")
    rep_iter <- vapply(reps[[as.character(K)]], `[[`, 0L, "iter")
    stopifnot(isTRUE(all.equal(rep_ll, unname(st@logLiks[as.character(K), ]), tolerance = 0)),
              max(rep_ll, na.rm = TRUE) == as.numeric(logLik(m)))
    best <- as.numeric(logLik(m))
    at_best <- !is.na(rep_ll) & (best - rep_ll) <= 1e-6 * abs(best)

    # refit(): optim (BFGS) on all parameters at once, numerical Hessian.
    rf <- refit(m)
    capture.output(sc <- summary(rf)@components)
    se_all <- sqrt(diag(rf@vcov))
    refit_comps <- lapply(seq_len(kf), function(j) {
      setNames(lapply(seq_along(formulas), function(e) {
        cm <- sc[[e]][[j]]
        ls_name <- sprintf("model.%d_Comp.%d_log(sigma)", e, j)
        list(term = rownames(cm), estimate = unname(cm[, "Estimate"]),
             std_error = unname(cm[, "Std. Error"]),
             log_sigma = unname(rf@coef[[ls_name]]),
             se_log_sigma = unname(se_all[[ls_name]]),
             sigma = exp(unname(rf@coef[[ls_name]])),
             se_sigma_delta = exp(unname(rf@coef[[ls_name]])) * unname(se_all[[ls_name]]))
      }), responses)
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

    # Polish: restart flexmix's EM from the best posterior with a tight
    # tolerance and no component removal.
    pol <- flexmix(~ 1, data = data, cluster = posterior(m), model = make_models(),
                   control = list(tolerance = 1e-12, iter.max = 20000, minprior = 0))
    # Exact ML EM from the same posterior (see ml_em above).
    ml <- ml_em(formulas, data, posterior(m))

    comps <- components_of(m, responses)
    pcomps <- components_of(pol, responses)
    list(k_requested = K, k_fitted = kf,
         logLik = best, df = attr(logLik(m), "df"),
         logLik_at_parameters = loglik_at(formulas, data, unname(prior(m)), comps),
         AIC = AIC(m), BIC = BIC(m), ICL = ICL(m),
         iterations = m@iter, converged = m@converged,
         prior = I(unname(prior(m))), sizes = I(unname(as.numeric(m@size))),
         components = comps,
         reps = list(logLik = I(rep_ll), k_fitted = I(rep_k), iterations = I(rep_iter),
                     n_at_best = sum(at_best),
                     at_best_rule = "(best - logLik) <= 1e-6 * |best|",
                     n_within_0.01 = sum(!is.na(rep_ll) & (best - rep_ll) <= 0.01),
                     n_lost_component = sum(rep_k < K, na.rm = TRUE),
                     n_failed = sum(is.na(rep_ll))),
         refit = refit_comps,
         refit_prior_logit = conc,
         refit_prior_logit_note = if (kf > 1) paste(
           "refit() parametrises the shares as a multinomial logit with",
           "component 1 as baseline: log(prior_j / prior_1), j >= 2"),
         refit_all = list(names = I(names(rf@coef)), estimate = I(unname(rf@coef)),
                          std_error = I(unname(se_all)), vcov = unname(rf@vcov)),
         polished = list(logLik = as.numeric(logLik(pol)),
                         logLik_at_parameters = loglik_at(formulas, data, unname(prior(pol)), pcomps),
                         iterations = pol@iter,
                         converged = pol@converged, k = pol@k,
                         prior = I(unname(prior(pol))),
                         components = pcomps),
         ml_em = list(logLik = ml$ll, iterations = ml$iterations,
                      converged = ml$converged, loglik_decreases = ml$decreases,
                      stop_rule = "max |parameter change| in one EM step < 1e-11",
                      last_step = ml$last_step,
                      k = length(ml$prior), prior = I(unname(ml$prior)),
                      components = lapply(ml$fits, function(fk) setNames(lapply(fk, function(p)
                        list(coefficients = named(p$coef), sigma = p$sigma)), responses))))
  })

  model_calls <- paste(vapply(formulas, function(f)
    sprintf("FLXMRglm(%s, family = \"gaussian\")", deparse(f)), ""), collapse = ", ")
  list(name = name, method = "flexmix::stepFlexmix + refit()",
       call = sprintf(paste0("set.seed(%d); stepFlexmix(~ 1, data = %s, k = %s,",
                             " nrep = %d, model = list(%s))"),
                      seed, data_name, deparse(ks), nrep, model_calls),
       seed = seed, nrep = nrep,
       equations = lapply(seq_along(formulas), function(e) list(
         index = e, response = responses[[e]], formula = deparse(formulas[[e]]),
         family = "gaussian", refit_prefix = sprintf("model.%d_", e))),
       n = nrow(data),
       control = list(iter.max = 200, minprior = 0.05, tolerance = 1e-6),
       models = models)
}

npreg_case <- chain_case(
  "npreg_two_responses", NPreg, "NPreg",
  list(yn ~ x + I(x^2), yp ~ x), seed = 1301)
npreg_case$data <- list(
  file = "NPreg.csv", rows_dropped = 0L,
  note = "flexmix's data(NPreg); yp (Poisson counts) is treated as a gaussian response")

ecsi_case <- chain_case(
  "ecsi_chain", ecsi, "ecsi",
  list(trust ~ satisfaction, loyalty ~ satisfaction + trust), seed = 1302)
ecsi_case$data <- list(
  file = "resources/examples/ecsi_mobi.csv", n_raw = nrow(ecsi_raw),
  items_used = I(ecsi_items),
  rows_dropped = sum(!ecsi_complete),
  rows_dropped_rule = "rows with a missing value in any used item are dropped",
  scores = list(
    satisfaction = "mean(CUSA1, CUSA2, CUSA3)",
    loyalty = "mean(CUSL1, CUSL3) (CUSL2, price sensitivity, left out)",
    trust = "IMAG1 (single item)"),
  score_means = list(satisfaction = mean(ecsi$satisfaction),
                     loyalty = mean(ecsi$loyalty), trust = mean(ecsi$trust)),
  note = "10-point items (1-10); scores are plain row means in R (rowMeans)")

out <- list(
  generator = "tests/data/chain_reference.R",
  versions = list(R = R.version.string,
                  flexmix = as.character(packageVersion("flexmix")),
                  jsonlite = as.character(packageVersion("jsonlite"))),
  model = paste(
    "Several gaussian regression equations share one set of K latent classes;",
    "given the class the equations' errors are independent, so the likelihood",
    "of respondent i is sum_k prior_k prod_e N(y_ie | x_ie' beta_ke, sigma_ke^2)."),
  note = paste(
    "flexmix components are in flexmix's order: match by parameters.",
    "The flexmix logLik is at EM's default stopping rule (tolerance 1e-6,",
    "minprior 0.05). flexmix's gaussian M-step estimates",
    "sigma^2 = n / (n - p) * sum(w r^2) / sum(w) (n = all rows, p = columns of",
    "that equation's design), not the ML sum(w r^2) / sum(w), so its fixed point",
    "is not the exact maximum. 'polished' restarts flexmix's EM from the best",
    "posterior with tolerance 1e-12 and minprior 0 (same sigma rule);",
    "'ml_em' is this script's own EM from the same posterior with the ML sigma",
    "(stopped when no parameter moves by more than 1e-11 in a step), which",
    "reaches the exact local maximum and a slightly higher log-likelihood.",
    "Because flexmix's sigma is not the ML one its EM is not monotone in the",
    "log-likelihood: 'polished' can end slightly BELOW the default fit (npreg",
    "K = 3, ecsi K = 2), and its parameters are only good to about 1e-5 (the stop is on",
    "the flat log-likelihood). refit() standard errors come",
    "from optim's numerical Hessian on (coefficients, log(sigma)) per model and",
    "component plus the prior logits; refit_all keeps flexmix's own parameter",
    "names (model.<e>_Comp.<j>_coef.<term>, model.<e>_Comp.<j>_log(sigma),",
    "concomitant_Comp.<j>.alpha), where <e> is the equation's position in",
    "'equations'. reps: the 50 runs of stepFlexmix (random starts), replayed",
    "one by one with the same seed. flexmix's logLik is that of the last",
    "iteration's components with the shares used in that iteration, but the",
    "stored prior is colMeans(posterior) after the last E-step, half a step",
    "later; logLik_at_parameters is the log-likelihood recomputed at the",
    "stored prior and components (differs from logLik by up to ~1e-3 at the",
    "default tolerance, by ~1e-12 when polished). Both K = 3 fits hold a",
    "small component on tied values of a discrete response (npreg: yp counts",
    "2 and 3, sigma of yp about 0.07; ecsi: loyalty = 10, sigma of loyalty",
    "about 0.2): local maxima of a likelihood that is unbounded as such a",
    "sigma goes to 0. Standard errors of NA/NaN are written as null."),
  cases = list(npreg_two_responses = npreg_case, ecsi_chain = ecsi_case))

write_json(out, file.path(outdir, "chain_reference.json"),
           auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null", na = "null")
cat("wrote", file.path(outdir, "chain_reference.json"), "in",
    round(proc.time()[["elapsed"]] - t_start, 1), "s\n")
