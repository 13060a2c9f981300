/* Our nftables table, `table inet mediaproxy`: the forwarding tiers keep
 * their netfilter rules in it and nowhere else.
 */
#ifndef MP_NFT_H
#define MP_NFT_H

#define MP_NFT_TABLE "mediaproxy"

/* Statements that leave no table behind, whether one existed or not. */
#define MP_NFT_DROP_TABLE "table inet " MP_NFT_TABLE "\ndelete table inet " MP_NFT_TABLE "\n"

/* Runs an nft script as one transaction; errors are logged with `what`. */
int nft_run(const char *what, const char *script);

/* Deletes the table (at exit; harmless when it is not there). */
void nft_drop_table(void);

#endif
