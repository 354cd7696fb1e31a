/* fuzz_jwt_keys.h - the fixed key set of fuzz_jwt.c and fuzz_jwks.c, and
 * tokens its keys signed.  The RSA and EC keys were made once for the
 * seed corpora (tests/fuzz/corpus/jwt and jwks) and their private halves
 * not kept; the Ed25519 key comes from FZ_ED_SEED_FILL (32 such bytes), so
 * a harness can sign with it.  The tokens are valid in both modes (OIDC
 * with FZ_ISS, and SPIFFE in FZ_TD) at FZ_NOW. */
#ifndef PILOT_FUZZ_JWT_KEYS_H
#define PILOT_FUZZ_JWT_KEYS_H

#define FZ_NOW 1700000000ull
#define FZ_ISS "https://idp.example.com"
#define FZ_AUD "pilot:net1"
#define FZ_TD "example.org"
#define FZ_ED_SEED_FILL 0x4a

/* The members of each JWK, without braces. */
#define FZ_JWK_RSA                                                                                 \
	"\"kid\":\"fz-rsa\",\"kty\":\"RSA\",\"e\":\"AQAB\",\"n\":\""                               \
	"npJhI-RYxRMhX2y0jcCTXTi1fFfjvV7WQWjw2qEQaWNettcX8VRgCZl217gImXOT9uey5sB_j0lpdVJwVd3A0r4_" \
	"5W_TYdNK6TVORO7HLotHIN3j26plXpzldMm2g-LOS6sFK4zAx9Ik-Sy9LnMSU0qZRyql8SwNPUIUmytGm67SkAnY" \
	"TRRkdjwhF1xBEVPDlTgcuj8eXO1BOd0J9cCORLEJ7Ck4JqW99KJi_3-wn5nABXn46azYy-YBon8-Aol8lrVqcjO7" \
	"7HHCaMOaMne9GLqLHAQiVn3OOXyxIcOm09dRXwNImFJhOZSgSi1uwkpsCZAIespaT-iqW3F10Ci6zw\""
#define FZ_JWK_EC                                                                                  \
	"\"kid\":\"fz-ec\",\"kty\":\"EC\",\"crv\":\"P-256\","                                      \
	"\"x\":\"EZfqQy4lSU-DnZrnNi4WlO2Pavo4xPH5qiggXo1oqI0\","                                   \
	"\"y\":\"IdtJzS-IAnN3DmVQxCgi0Z3z9Iz7lFgOfzMtHyc3HWo\""
#define FZ_JWK_ED                                                                                  \
	"\"kid\":\"fz-ed\",\"kty\":\"OKP\",\"crv\":\"Ed25519\","                                   \
	"\"x\":\"NTyKf-7KOLLEU24L0lhv2xjQcOUOBZ8dQ_i_77l6fOE\""
#define FZ_SVID ",\"use\":\"jwt-svid\""
/* Each key twice: for an OpenID provider (no use) and as a JWT-SVID
 * authority, so each profile keeps three and skips three. */
#define FZ_JWKS                                                                                    \
	"{\"keys\":[{" FZ_JWK_RSA "},{" FZ_JWK_EC "},{" FZ_JWK_ED "},{" FZ_JWK_RSA FZ_SVID         \
	"},{" FZ_JWK_EC FZ_SVID "},{" FZ_JWK_ED FZ_SVID "}]}"

/* {"alg":A,"kid":K,"typ":"JWT"} over {"iss":FZ_ISS,
 * "sub":"spiffe://example.org/ns/prod/sa/web","aud":FZ_AUD,"exp":2000000000,
 * "nbf":1600000000,"iat":1600000000,"jti":"fz-1"} */
#define FZ_PAYLOAD_B64                                                                             \
	"eyJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlLmNvbSIsInN1YiI6InNwaWZmZTovL2V4YW1wbGUub3JnL25zL3By" \
	"b2Qvc2Evd2ViIiwiYXVkIjoicGlsb3Q6bmV0MSIsImV4cCI6MjAwMDAwMDAwMCwibmJmIjoxNjAwMDAwMDAwLCJp" \
	"YXQiOjE2MDAwMDAwMDAsImp0aSI6ImZ6LTEifQ"
#define FZ_TOK_RS256                                                                               \
	"eyJhbGciOiJSUzI1NiIsImtpZCI6ImZ6LXJzYSIsInR5cCI6IkpXVCJ9." FZ_PAYLOAD_B64                 \
	".NM1uiXx5vR3e3pPuAPcnG0mWFIufGwOcUcRlENvAaWc_5skMQ1gyECk5oFJUMgtcTg6AEqdTat8PlCgVqlAAY1D" \
	"enLq15y13U9xbJpkZXvDmy-shiLZLMYABOepD1jWDM57-KUyGxBdPGy43w3KODujrE-He-BG-KGEAS3mE593j7rx" \
	"xnd_LZF5yxA88dB-LAuh6_JPfzllekRlJQqwm-LiPb6eL-HnhBloHHoYpEkyj1cALblr0Y8ct-tkWiO3Qh3clCOk" \
	"spLRnQgU_sIh3zqJ9UOHgcQ3pNE1C72Evd5wtQmClHDAp5eac4Ia0xcQAv78sExbWpi9nqzcx_lUlsw"
#define FZ_TOK_ES256                                                                               \
	"eyJhbGciOiJFUzI1NiIsImtpZCI6ImZ6LWVjIiwidHlwIjoiSldUIn0." FZ_PAYLOAD_B64                  \
	".buCK3MHs6SE0rKOznor5taZ8TCq97QNuF4d8CfOoNJO_1RLZ85Ee3HsRNZcjPYXZlsjNRBREaKxrmsWWxTIX3g"
#define FZ_TOK_EDDSA                                                                               \
	"eyJhbGciOiJFZERTQSIsImtpZCI6ImZ6LWVkIiwidHlwIjoiSldUIn0." FZ_PAYLOAD_B64                  \
	".Z_kXKRV4aemuu8CNaWt1NkNJl4gdbvhv7nnN5_3hAuq8puF5LTde6V_FO8BtW-_dZD5VHGwtMRMP6xkOXGZ6BA"

#endif
