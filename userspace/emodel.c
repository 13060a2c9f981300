#include <math.h>
#include <stddef.h>
#include "emodel.h"

/* R with every G.107 parameter at its default and no delay nor loss. */
#define R_DEFAULT 93.2

/* ITU-T G.113 Appendix I, Table I.1 (Ie) and Table I.3 (Bpl, with packet
 * loss concealment).  G.722 is wideband, which the narrowband E-model does
 * not rate: it is taken as G.711 there, its narrowband equal.
 */
static const struct emodel_codec pcmu = { "PCMU", 0, 25.1 }, pcma = { "PCMA", 0, 25.1 },
				  g722 = { "G722", 0, 25.1 }, g723 = { "G723", 15, 16.1 },
				  g729 = { "G729", 11, 19.0 };

const struct emodel_codec *emodel_codec(unsigned payload_type)
{
	switch (payload_type) {
	case 0:
		return &pcmu;
	case 4:
		return &g723;
	case 8:
		return &pcma;
	case 9:
		return &g722;
	case 18:
		return &g729;
	default:
		return NULL;
	}
}

/* G.107 section 7.3: the delay impairment Idd of the absolute delay Ta; none up to 100 ms. */
static double delay_impairment(double ta_ms)
{
	double x;

	if (ta_ms <= 100)
		return 0;
	x = log2(ta_ms / 100);
	return 25 * (pow(1 + pow(x, 6), 1.0 / 6) - 3 * pow(1 + pow(x / 3, 6), 1.0 / 6) + 2);
}

double emodel_mos(const struct emodel_codec *codec, double loss_percent, double delay_ms)
{
	/* G.107 section 7.4, random loss (BurstR = 1): Ie-eff = Ie + (95 - Ie) Ppl / (Ppl + Bpl) */
	double ie_eff = codec->ie + (95 - codec->ie) * loss_percent / (loss_percent + codec->bpl);
	double r = R_DEFAULT - delay_impairment(delay_ms) - ie_eff;

	/* G.107 Annex B; its polynomial dips just under 1 for R below 6.5 */
	if (r <= 0)
		return 1;
	if (r >= 100)
		return 4.5;
	return fmax(1, 1 + 0.035 * r + r * (r - 60) * (100 - r) * 7e-6);
}
