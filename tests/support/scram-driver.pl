#!/usr/bin/perl
# A SCRAM peer for interop tests, built on Debian's libauthen-scram-perl (Authen::SCRAM::Client
# and Authen::SCRAM::Server), an implementation independent of Quark's.
#
#   scram-driver.pl client <digest> <hex username> <hex password> [hex authzid]
#   scram-driver.pl server <digest> <hex username> <hex password> [iterations]
#
# <digest> is SHA-1, SHA-256 or SHA-512. Names and passwords are given as hex of their UTF-8
# bytes, so every character arrives intact whatever the locale; Authen::SCRAM SASLpreps them.
#
# Line protocol (one line each, "\n"-terminated):
#   we print   MSG <base64 of the UTF-8 SCRAM message>
#              OK <hex of the UTF-8 authorization identity> <hex of the UTF-8 user name>
#                 (server: who authenticated; client: empty fields, "OK" alone)
#              ERROR <text>   (then exit status 1)
#   we read    <base64 of the UTF-8 SCRAM message>
#
# Client: prints client-first, reads server-first, prints client-final, reads server-final,
#         validates it, prints OK.
# Server: reads client-first, prints server-first, reads client-final, prints server-final, OK.
#         The only user is the one given; its keys are derived by Authen::SCRAM from a random
#         salt and the iteration count (default 4096).
use strict;
use warnings;

use Authen::SASL::SASLprep qw/saslprep/;
use Authen::SCRAM::Client;
use Authen::SCRAM::Server;
use Crypt::URandom qw/urandom/;
use Encode qw/decode_utf8 encode_utf8/;
use MIME::Base64 qw/decode_base64 encode_base64/;

# Authen::SCRAM 0.011 escapes ',' and '=' in names (user name, authzid) as lowercase "=2c" and
# "=3d", and reads only those. RFC 5802 section 5.1 says they "are sent as '=2C' and '=3D'" and
# that a server MUST fail a name with '=' "not followed by either '2C' or '3D'"; servers such as
# Dovecot and Quark read exactly that. (Its ABNF strings are nominally case-insensitive, RFC 5234
# section 2.3, which is how Authen::SCRAM's spelling can be argued valid.) So both classes here
# write RFC 5802's spelling, and the server reads either; nothing else of Authen::SCRAM changes
# (its server also uses the encoder to rebuild the gs2 header it checks "c=" against).
{
    no warnings 'redefine';
    my $decode = sub {
        my ( $self, $name ) = @_;
        $name =~ s/=2c/,/gi;
        $name =~ s/=3d/=/gi;
        return $name;
    };
    my $encode = sub {
        my ( $self, $name ) = @_;
        $name =~ s/=/=3D/g;
        $name =~ s/,/=2C/g;
        return $name;
    };
    for my $class (qw/Authen::SCRAM::Client Authen::SCRAM::Server/) {
        no strict 'refs';
        *{"${class}::_decode_name"} = $decode;
        *{"${class}::_encode_name"} = $encode;
    }
}

binmode STDIN;
binmode STDOUT;
$| = 1;

sub from_hex {
    my ($hex) = @_;
    die "not hex: '$hex'\n" unless defined $hex && $hex =~ /^(?:[0-9a-fA-F]{2})*$/;
    return decode_utf8( pack( 'H*', $hex ), Encode::FB_CROAK );
}

sub to_hex { return unpack( 'H*', encode_utf8( $_[0] // '' ) ) }

sub send_msg {
    my ($msg) = @_;
    print 'MSG ', encode_base64( encode_utf8($msg), '' ), "\n";
}

sub read_msg {
    my ($what) = @_;
    my $line = <STDIN>;
    die "end of input while waiting for the $what\n" unless defined $line;
    $line =~ s/\r?\n\z//;
    die "the $what line is not base64: '$line'\n" unless $line =~ m{^[A-Za-z0-9+/]*={0,2}\z};
    return decode_utf8( decode_base64($line), Encode::FB_CROAK );
}

sub fail {
    my ($error) = @_;
    $error =~ s/\s+/ /g;
    $error =~ s/ \z//;
    print 'ERROR ', encode_utf8($error), "\n";
    exit 1;
}

my ( $mode, $digest, @args ) = @ARGV;
if ( !defined $mode || !defined $digest || ( $mode ne 'client' && $mode ne 'server' ) || @args < 2 ) {
    print "ERROR usage: scram-driver.pl client|server <digest> <hex username> <hex password> [hex authzid | iterations]\n";
    exit 2;
}

eval {
    my $username = from_hex( $args[0] );
    my $password = from_hex( $args[1] );
    if ( $mode eq 'client' ) {
        my $client = Authen::SCRAM::Client->new(
            username => $username,
            password => $password,
            digest   => $digest,
            ( defined $args[2] ? ( authorization_id => from_hex( $args[2] ) ) : () ),
        );
        send_msg( $client->first_msg() );
        my $server_first = read_msg('server-first-message');
        send_msg( $client->final_msg($server_first) );
        my $server_final = read_msg('server-final-message');
        $client->validate($server_final);
        print "OK\n";
    }
    else {
        my $iterations = $args[2] // 4096;
        die "iterations must be a number: '$iterations'\n" unless $iterations =~ /^[0-9]+\z/;
        my $salt = urandom(16);
        # Authen::SCRAM's own key derivation (SASLprep, PBKDF2, HMAC), as its client computes them.
        my ( $stored_key, undef, $server_key ) = Authen::SCRAM::Client->new(
            username => $username,
            password => $password,
            digest   => $digest,
        )->computed_keys( $salt, $iterations );
        my $known = saslprep( $username, 1 );
        my $server = Authen::SCRAM::Server->new(
            digest        => $digest,
            credential_cb => sub {
                my ($name) = @_;
                return $name eq $known ? ( $salt, $stored_key, $server_key, $iterations ) : ();
            },
        );
        my $client_first = read_msg('client-first-message');
        send_msg( $server->first_msg($client_first) );
        my $client_final = read_msg('client-final-message');
        send_msg( $server->final_msg($client_final) );
        # the authenticated user name, decoded and SASLprepped by Authen::SCRAM
        my $authenticated = $server->_get_session('n');
        print 'OK ', to_hex( $server->authorization_id() ), ' ', to_hex($authenticated), "\n";
    }
    1;
} or fail( $@ || 'unknown error' );
exit 0;
