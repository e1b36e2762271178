package encoding

// Format codes (§1.2 Figure 1.3, §1.6; types.xml). A constructor is either
// one of these primitive format codes or CodeDescribed followed by a
// descriptor value and a constructor.
const (
	CodeDescribed  byte = 0x00 // §1.2 described format code
	CodeNull       byte = 0x40 // §1.6.1
	CodeTrue       byte = 0x41 // §1.6.2 boolean "true"
	CodeFalse      byte = 0x42 // §1.6.2 boolean "false"
	CodeUint0      byte = 0x43 // §1.6.5 uint0
	CodeUlong0     byte = 0x44 // §1.6.6 ulong0
	CodeList0      byte = 0x45 // §1.6.22 list0
	CodeUbyte      byte = 0x50 // §1.6.3
	CodeByte       byte = 0x51 // §1.6.7
	CodeSmallUint  byte = 0x52 // §1.6.5 smalluint
	CodeSmallUlong byte = 0x53 // §1.6.6 smallulong
	CodeSmallInt   byte = 0x54 // §1.6.9 smallint
	CodeSmallLong  byte = 0x55 // §1.6.10 smalllong
	CodeBoolean    byte = 0x56 // §1.6.2 one octet, 0x00 false and 0x01 true
	CodeUshort     byte = 0x60 // §1.6.4
	CodeShort      byte = 0x61 // §1.6.8
	CodeUint       byte = 0x70 // §1.6.5
	CodeInt        byte = 0x71 // §1.6.9
	CodeFloat      byte = 0x72 // §1.6.11 ieee-754
	CodeChar       byte = 0x73 // §1.6.16 utf32
	CodeDecimal32  byte = 0x74 // §1.6.13
	CodeUlong      byte = 0x80 // §1.6.6
	CodeLong       byte = 0x81 // §1.6.10
	CodeDouble     byte = 0x82 // §1.6.12 ieee-754
	CodeTimestamp  byte = 0x83 // §1.6.17 ms64
	CodeDecimal64  byte = 0x84 // §1.6.14
	CodeDecimal128 byte = 0x94 // §1.6.15
	CodeUUID       byte = 0x98 // §1.6.18
	CodeVbin8      byte = 0xa0 // §1.6.19
	CodeStr8       byte = 0xa1 // §1.6.20 str8-utf8
	CodeSym8       byte = 0xa3 // §1.6.21
	CodeVbin32     byte = 0xb0 // §1.6.19
	CodeStr32      byte = 0xb1 // §1.6.20 str32-utf8
	CodeSym32      byte = 0xb3 // §1.6.21
	CodeList8      byte = 0xc0 // §1.6.22
	CodeMap8       byte = 0xc1 // §1.6.23
	CodeList32     byte = 0xd0 // §1.6.22
	CodeMap32      byte = 0xd1 // §1.6.23
	CodeArray8     byte = 0xe0 // §1.6.24
	CodeArray32    byte = 0xf0 // §1.6.24
)

// codeType maps each primitive format code to its type (TypeInvalid for
// codes the specification does not define).
var codeType = [256]Type{
	CodeNull: TypeNull, CodeTrue: TypeBoolean, CodeFalse: TypeBoolean, CodeBoolean: TypeBoolean,
	CodeUbyte: TypeUbyte, CodeUshort: TypeUshort,
	CodeUint: TypeUint, CodeSmallUint: TypeUint, CodeUint0: TypeUint,
	CodeUlong: TypeUlong, CodeSmallUlong: TypeUlong, CodeUlong0: TypeUlong,
	CodeByte: TypeByte, CodeShort: TypeShort, CodeInt: TypeInt, CodeSmallInt: TypeInt,
	CodeLong: TypeLong, CodeSmallLong: TypeLong, CodeFloat: TypeFloat, CodeDouble: TypeDouble,
	CodeDecimal32: TypeDecimal32, CodeDecimal64: TypeDecimal64, CodeDecimal128: TypeDecimal128,
	CodeChar: TypeChar, CodeTimestamp: TypeTimestamp, CodeUUID: TypeUUID,
	CodeVbin8: TypeBinary, CodeVbin32: TypeBinary, CodeStr8: TypeString, CodeStr32: TypeString,
	CodeSym8: TypeSymbol, CodeSym32: TypeSymbol,
	CodeList0: TypeList, CodeList8: TypeList, CodeList32: TypeList,
	CodeMap8: TypeMap, CodeMap32: TypeMap, CodeArray8: TypeArray, CodeArray32: TypeArray,
}

// TypeOf returns the type a primitive format code encodes, or TypeInvalid.
func TypeOf(code byte) Type { return codeType[code] }

// fixedWidth returns the number of data octets of a fixed-width format code
// from its subcategory (§1.2.1 Figure 1.6), or -1 if the code is not
// fixed-width.
func fixedWidth(code byte) int {
	switch code >> 4 {
	case 0x4:
		return 0
	case 0x5:
		return 1
	case 0x6:
		return 2
	case 0x7:
		return 4
	case 0x8:
		return 8
	case 0x9:
		return 16
	}
	return -1
}
