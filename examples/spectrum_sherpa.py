"""The Crab's ISGRI spectrum fitted with a power law in Sherpa.

Usage: python examples/spectrum_sherpa.py [SERVICE_URL]   (default http://127.0.0.1:8080)

Needs Sherpa (``pip install sherpa``). The spectrum comes as OGIP PHA with its RMF and ARF;
they are downloaded side by side, so Sherpa finds the responses the PHA names. The rates are
net rates from a sky-model fit, not Poisson counts: load them with their errors and use chi².
"""

import sys

from sherpa.astro import ui

from vo_service.client import Client


def main(url: str) -> None:
    spectrum = Client(url).get_product(
        "spectrum", src_name="Crab", radius=20, max_pointings=10, progress=True
    )
    pha = spectrum.file()  # the primary file: the named source's PHA, its RMF/ARF beside it
    print(f"product {spectrum.product_id}")
    print(f"spectrum {pha}")

    ui.load_pha(str(pha), use_errors=True)
    ui.set_stat("chi2")
    ui.notice(30.0, 300.0)
    ui.set_source(ui.powlaw1d.pl)
    pl = ui.get_model_component("pl")
    pl.ref = 50.0  # normalisation at 50 keV
    ui.fit()
    ui.covar()
    covar = ui.get_covar_results()
    errors = dict(zip(covar.parnames, covar.parmaxes, strict=True))
    fit = ui.get_fit_results()
    print(f"photon index: {pl.gamma.val:.3f} +/- {errors['pl.gamma']:.3f}")
    print(f"norm at 50 keV: {pl.ampl.val:.4g} photons/cm2/s/keV")
    print(f"chi2 = {fit.statval:.1f} for {fit.dof} degrees of freedom")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080")
