/* A listening-quality estimate of one direction of a call from the ITU-T
 * G.107 E-model (doc/fast-path.md §13): the rating R from the one-way delay
 * and the codec's equipment impairment under packet loss, then R as a MOS.
 */
#ifndef MP_EMODEL_H
#define MP_EMODEL_H

/* A codec's equipment impairment factor Ie and packet-loss robustness
 * Bpl (ITU-T G.113 Appendix I).
 */
struct emodel_codec {
	const char *name;
	double ie, bpl;
};

/* The codec of a static RTP payload type (RFC 3551), or NULL when the
 * E-model has no figures for it (or the type is dynamic).
 */
const struct emodel_codec *emodel_codec(unsigned payload_type);

/* The MOS (1 to 4.5) of `codec` with `loss_percent` packets lost at random
 * and a mouth-to-ear delay of `delay_ms`.
 */
double emodel_mos(const struct emodel_codec *codec, double loss_percent, double delay_ms);

#endif
